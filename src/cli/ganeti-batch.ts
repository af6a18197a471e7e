import { type Opcode, opcodeSchema } from '../cluster/opcodes.js';
import { CorralError } from '../common/errors.js';
import { parseBool, parseInteger, parseSizeMiB } from './ganeti-options.js';

/**
 * Ganeti's batch-create file (gnt-instance batch-create): a JSON list of dictionaries, each the parameters
 * of one OpInstanceCreate, in its names. Read and checked whole before anything is submitted, as Ganeti's
 * client and its multi-allocation do, into one OP_INSTANCE_MULTI_ALLOC; a refusal names the definition (by
 * its instance_name where it has one) and the key.
 */

type MultiAlloc = Extract<Opcode, { OP_ID: 'OP_INSTANCE_MULTI_ALLOC' }>;
type Create = MultiAlloc['instances'][number];

/** Parameters Corral takes, under the same name. */
const PASSED = [
  'instance_name',
  'mode',
  'disk_template',
  'disks',
  'nics',
  'os_type',
  'force_variant',
  'osparams',
  'osparams_private',
  'identify_defaults',
  'compress',
  'hypervisor',
  'hvparams',
  'beparams',
  'pnode',
  'snode',
  'group_name',
  'start',
  'no_install',
  'wait_for_sync',
  'tags',
  'src_node',
  'src_path',
] as const;

/**
 * OpInstanceCreate's other parameters (and every opcode's): accepted with the value that asks for nothing
 * Corral lacks ('any': whatever the value, as DNS checks Corral never does). null is always accepted.
 */
const INERT: Readonly<Record<string, 'any' | readonly unknown[]>> = {
  name_check: 'any',
  ip_check: 'any',
  conflicts_check: 'any',
  opportunistic_locking: 'any',
  helper_startup_timeout: 'any',
  helper_shutdown_timeout: 'any',
  source_shutdown_timeout: 'any',
  ignore_ipolicy: [false],
  forthcoming: [false],
  commit: [false],
  instance_communication: [false],
  file_driver: ['loop'],
  file_storage_dir: [],
  osparams_secret: [{}],
  pnode_uuid: [],
  snode_uuid: [],
  src_node_uuid: [],
  source_handshake: [],
  source_instance_name: [],
  source_x509_ca: [],
  // Every opcode's: the job's priority and debug level are the command's; a dry run is the whole batch's.
  dry_run: [false],
  debug_level: 'any',
  priority: 'any',
  comment: 'any',
  reason: 'any',
  depends: [[]],
  // The multi-allocation refuses it per instance: the batch's allocator is -I.
  iallocator: [],
};

const REQUIRED = ['instance_name', 'mode', 'disks', 'nics'] as const;
const DISK_KEYS = ['size', 'mode', 'name'];
/** Ganeti's disk parameters Corral has no use for: a volume group, spindles, an adopted device, a provider. */
const DISK_UNSUPPORTED = ['spindles', 'vg', 'metavg', 'adopt', 'provider', 'access', 'type'];
const NIC_KEYS = ['mac', 'ip', 'mode', 'link', 'name'];
const BE_SIZES = ['memory', 'maxmem', 'minmem'];
const BE_COUNTS = ['vcpus', 'spindle_use'];
const BE_FLAGS = ['auto_balance', 'always_failover'];

const isDict = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** What a refusal calls a definition: its instance name where it has a usable one, else its place. */
function label(definition: Record<string, unknown>, index: number): string {
  const name = definition.instance_name;
  return typeof name === 'string' && name !== '' ? `instance ${name}` : `definition ${index}`;
}

/**
 * Reads the batch file's text into the multi-allocation, refusing the first problem in one line that names
 * the file, the instance and the key. `defaultTemplate` fills a missing disk_template, as Ganeti fills it
 * with the cluster's first enabled one.
 */
export function batchOpcode(
  file: string,
  text: string,
  defaultTemplate: string | undefined,
  iallocator: string | undefined,
): MultiAlloc {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new CorralError(
      'bad_request',
      `can't parse the instance definition file ${file}: ${(error as Error).message}`,
    );
  }
  if (!Array.isArray(data) || !data.every(isDict))
    throw new CorralError(
      'bad_request',
      `the instance definition file ${file} is not a list of dictionaries`,
    );
  if (data.length === 0)
    throw new CorralError('bad_request', `the instance definition file ${file} defines no instance`);
  const refuse = (where: string, problem: string): never => {
    throw new CorralError('bad_request', `${file}: ${where}: ${problem}`);
  };
  const instances = data.map((definition, index) =>
    createOf(definition, defaultTemplate, (problem) => refuse(label(definition, index), problem)),
  );
  const names = instances.map((instance) => instance.instance_name);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) refuse(`instance ${twice}`, 'it is defined more than once');
  // Ganeti's multi-allocation: every instance names its nodes (both, for drbd), or none does.
  const placed = instances.flatMap((instance) => [
    [instance, 'pnode', instance.pnode !== undefined] as const,
    ...(instance.disk_template === 'drbd'
      ? [[instance, 'snode', instance.snode !== undefined] as const]
      : []),
  ]);
  const unplaced = placed.find(([, , given]) => !given);
  if (placed.some(([, , given]) => given) && unplaced !== undefined)
    refuse(
      `instance ${unplaced[0].instance_name}`,
      `it gives no ${unplaced[1]} while other instances give their nodes; give them for every instance, or for none`,
    );
  const op = { OP_ID: 'OP_INSTANCE_MULTI_ALLOC', instances, ...(iallocator !== undefined && { iallocator }) };
  const parsed = opcodeSchema.safeParse(op);
  if (parsed.success) return parsed.data as MultiAlloc;
  const issue = parsed.error.issues[0]!;
  const [, at, ...key] = issue.path;
  if (typeof at !== 'number') return refuse('instances', issue.message);
  return refuse(`instance ${names[at]}`, `${key.join('.')}: ${issue.message}`);
}

/** One definition as Corral's create, refusing (through `refuse`) what Corral cannot do or Ganeti would not take. */
function createOf(
  definition: Record<string, unknown>,
  defaultTemplate: string | undefined,
  refuse: (problem: string) => never,
): Create {
  const create: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(definition)) {
    if ((PASSED as readonly string[]).includes(key)) {
      if (value !== null) create[key] = value;
      continue;
    }
    const inert = INERT[key];
    if (inert === undefined) refuse(`unknown field ${key}`);
    if (key === 'iallocator' && value !== null)
      refuse('iallocator cannot be set per instance: give the allocator of the whole batch with -I');
    if (
      inert !== 'any' &&
      value !== null &&
      !inert!.some((allowed) => JSON.stringify(allowed) === JSON.stringify(value))
    )
      refuse(`${key} ${JSON.stringify(value)} is not supported by Corral`);
  }
  for (const key of REQUIRED) if (create[key] === undefined) refuse(`${key} is missing`);
  if (create.mode === 'remote-import') refuse('mode remote-import is not supported by Corral: use import');
  if (create.disk_template === undefined && defaultTemplate !== undefined)
    create.disk_template = defaultTemplate;
  if (Array.isArray(create.disks))
    create.disks = create.disks.map((disk, i) => diskOf(disk, `disks.${i}`, refuse));
  if (Array.isArray(create.nics)) create.nics = create.nics.map((nic, i) => nicOf(nic, `nics.${i}`, refuse));
  if (isDict(create.beparams)) create.beparams = beParamsOf(create.beparams, refuse);
  for (const key of ['hvparams', 'osparams'])
    if (isDict(create[key]))
      create[key] = Object.fromEntries(
        Object.entries(create[key]).map(([k, v]) => [
          k,
          typeof v === 'number' || typeof v === 'boolean' ? String(v) : v,
        ]),
      );
  return create as Create;
}

/** A disk dict: size in MiB (a number, or digits as Ganeti's example writes it), mode, name. */
function diskOf(disk: unknown, where: string, refuse: (problem: string) => never): unknown {
  if (!isDict(disk)) return refuse(`${where} is not a dictionary`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(disk)) {
    if (value === null) continue;
    if (DISK_UNSUPPORTED.includes(key)) refuse(`${where}.${key} is not supported by Corral`);
    if (!DISK_KEYS.includes(key))
      refuse(`${where}: unknown disk parameter ${key}; known: ${DISK_KEYS.join(', ')}`);
    out[key] = key === 'size' && typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  }
  if (out.size === undefined) refuse(`${where}.size is missing`);
  return out;
}

/** A NIC dict: `bridge` is the old name of a bridged NIC's link; Corral has no networks or VLANs. */
function nicOf(nic: unknown, where: string, refuse: (problem: string) => never): unknown {
  if (!isDict(nic)) return refuse(`${where} is not a dictionary`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(nic)) {
    if (value === null) continue;
    if (key === 'bridge') {
      out.link ??= value;
      continue;
    }
    if ((key === 'network' || key === 'vlan') && value !== '')
      refuse(`${where}.${key} is not supported by Corral`);
    else if (!NIC_KEYS.includes(key))
      refuse(`${where}: unknown NIC parameter ${key}; known: ${NIC_KEYS.join(', ')}`);
    else out[key] = value;
  }
  return out;
}

/** Ganeti's beparams, whose values may be strings ("512M", "2", "true") as its type checks convert them. */
function beParamsOf(
  be: Record<string, unknown>,
  refuse: (problem: string) => never,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(be)) {
    const where = `beparams.${key}`;
    if (![...BE_SIZES, ...BE_COUNTS, ...BE_FLAGS].includes(key))
      refuse(
        `${where}: unknown backend parameter; known: ${[...BE_SIZES, ...BE_COUNTS, ...BE_FLAGS].join(', ')}`,
      );
    if (typeof value !== 'string') out[key] = value;
    else
      try {
        out[key] = BE_SIZES.includes(key)
          ? parseSizeMiB(value, where)
          : BE_COUNTS.includes(key)
            ? parseInteger(value, where)
            : parseBool(value, where);
      } catch (error) {
        refuse((error as Error).message);
      }
  }
  return out;
}
