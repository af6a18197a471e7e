import { CorralError } from '../common/errors.js';

/**
 * The environment of Ganeti's hook scripts (hooks version 2), built for each opcode and phase. Pure: the master
 * decides what every node's scripts see; the nodes only run them (daemon/hook-scripts.ts).
 */

/** Per-operation variable names, without GANETI_; some end in a node name (Ganeti's NODE_TAGS_<name>). */
const EXTRA_NAME = /^[A-Z][A-Za-z0-9_.-]*$/;
/** Set by the runner for every hook; Ganeti recomputes none of them under GANETI_POST_. */
const COMMON_NAMES = [
  'HOOKS_VERSION',
  'HOOKS_PHASE',
  'HOOKS_PATH',
  'OP_CODE',
  'OBJECT_TYPE',
  'CLUSTER',
  'MASTER',
  'DATA_DIR',
] as const;

export type HookPhase = 'pre' | 'post';
export type HookObjectType = 'CLUSTER' | 'NODE' | 'INSTANCE' | 'GROUP' | 'NETWORK';
/** Lists become space-separated, booleans Python's True/False, as Ganeti renders them. */
export type HookValue = string | number | boolean | readonly string[];
export type HookEnv = Readonly<Record<string, string>>;

export interface HookEnvironmentInput {
  readonly phase: HookPhase;
  readonly hpath: string;
  /** e.g. OP_INSTANCE_STARTUP. */
  readonly opCode: string;
  readonly objectType: HookObjectType;
  readonly cluster: string;
  readonly master: string;
  /** Where a hook can read the ssconf-like files. */
  readonly dataDir: string;
  readonly target: string;
  /** Per-operation variables, named without the GANETI_ prefix (FORCE, INSTANCE_NAME, ...). */
  readonly extra?: Readonly<Record<string, HookValue>>;
}

/** The variables every hook gets (Ganeti's hooks version 2), plus the operation's own. */
export function hookEnvironment(input: HookEnvironmentInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.extra ?? {})) {
    if (!EXTRA_NAME.test(name) || name.startsWith('GANETI_') || name.startsWith('POST_'))
      throw new CorralError(
        'bad_request',
        `hook variable ${name} must start with a capital letter and come without a prefix`,
      );
    env[`GANETI_${name}`] = renderValue(value);
  }
  // The common ones last: an operation's variables cannot change them.
  return {
    ...env,
    GANETI_HOOKS_VERSION: '2',
    GANETI_HOOKS_PHASE: input.phase,
    GANETI_HOOKS_PATH: input.hpath,
    GANETI_OP_CODE: input.opCode,
    GANETI_OBJECT_TYPE: input.objectType,
    GANETI_CLUSTER: input.cluster,
    GANETI_MASTER: input.master,
    GANETI_DATA_DIR: input.dataDir,
    GANETI_OP_TARGET: input.target,
  };
}

/**
 * The post-phase environment: the whole pre environment, plus the operation's variables as recomputed after
 * it ran (`post`, from hookEnvironment) under GANETI_POST_.
 */
export function postEnvironment(pre: HookEnv, post: HookEnv): Record<string, string> {
  const common = new Set<string>(COMMON_NAMES.map((name) => `GANETI_${name}`));
  const env: Record<string, string> = { ...pre, GANETI_HOOKS_PHASE: 'post' };
  for (const [key, value] of Object.entries(post))
    if (key.startsWith('GANETI_') && !common.has(key))
      env[`GANETI_POST_${key.slice('GANETI_'.length)}`] = value;
  return env;
}

function renderValue(value: HookValue): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return value;
  return value.join(' ');
}
