import type { Argv } from 'yargs';
import type { ConfigView } from '../cluster/views.js';
import { CorralError } from '../common/errors.js';

/**
 * Ganeti's instance selectors of startup, shutdown, reboot and reinstall: the arguments are instance names
 * (--instance, the default), node names (--node: instances on them, --primary, --secondary), tags (--tags:
 * the instances' own, --node-tags, --pri-node-tags, --sec-node-tags: their nodes'), or nothing (--all).
 */

export const selectionModes = [
  'instance',
  'all',
  'node',
  'primary',
  'secondary',
  'tags',
  'node-tags',
  'pri-node-tags',
  'sec-node-tags',
] as const;
export type SelectionMode = (typeof selectionModes)[number];

const modeHelp: Record<SelectionMode, string> = {
  instance: 'the arguments are instances (the default)',
  all: 'every instance of the cluster (no arguments)',
  node: 'the arguments are nodes: the instances on them, as primary or secondary',
  primary: 'the arguments are nodes: the instances they are the primary of',
  secondary: 'the arguments are nodes: the instances they are a secondary of',
  tags: 'the arguments are tags: the instances with any of them',
  'node-tags': 'the arguments are tags: the instances on nodes with any of them',
  'pri-node-tags': 'the arguments are tags: the instances whose primary has any of them',
  'sec-node-tags': 'the arguments are tags: the instances with a secondary that has any of them',
};

export type SelectionArgs = { readonly [K in SelectionMode]: boolean } & {
  readonly 'force-multiple': boolean;
};

/** The selector flags and --force-multiple. */
export function selectionOptions<T>(yargs: Argv<T>): Argv<T & SelectionArgs> {
  let y = yargs.option('force-multiple', {
    type: 'boolean',
    default: false,
    describe: 'do not ask for confirmation when more than one instance is affected',
  });
  for (const mode of selectionModes)
    y = y.option(mode, { type: 'boolean', default: false, describe: modeHelp[mode] });
  return y as Argv<T & SelectionArgs>;
}

/** The one selector given (instance when none is); two are refused, where Ganeti would take the last. */
export function selectionMode(args: SelectionArgs): SelectionMode {
  const given = selectionModes.filter((mode) => mode !== 'instance' && args[mode]);
  if (given.length > 1)
    throw new CorralError(
      'bad_request',
      `give one of ${given.map((mode) => `--${mode}`).join(', ')}, not ${given.length}`,
    );
  return given[0] ?? 'instance';
}

/** Whether Ganeti asks before acting: more than one instance, or any selection other than by name. */
export function isMultiple(mode: SelectionMode, instances: readonly string[]): boolean {
  return mode !== 'instance' || instances.length > 1;
}

/**
 * The instances a selection names, in name order, each once. Names of instances are passed on as given
 * (the master refuses unknown ones); names of nodes must exist; --all takes no arguments.
 */
export function selectInstances(mode: SelectionMode, args: readonly string[], config?: ConfigView): string[] {
  if (mode === 'instance') {
    if (args.length === 0)
      throw new CorralError('bad_request', 'name an instance, or select some with --all, --node or --tags');
    return [...new Set(args)];
  }
  if (config === undefined) throw new Error(`selecting by --${mode} needs the configuration`);
  if (mode === 'all') {
    if (args.length > 0)
      throw new CorralError('bad_request', `--all takes no arguments (${args.join(' ')} given)`);
    return config.instances.map((instance) => instance.name).sort();
  }
  if (args.length === 0)
    throw new CorralError(
      'bad_request',
      `--${mode} needs ${mode.endsWith('tags') ? 'tags' : 'node names'} as arguments`,
    );
  const wanted = new Set(args);
  const instanceTagged = (tags: readonly string[]) => tags.some((tag) => wanted.has(tag));
  if (mode === 'tags')
    return config.instances
      .filter((instance) => instanceTagged(instance.tags))
      .map((instance) => instance.name)
      .sort();
  const byTags = mode.endsWith('-tags');
  if (!byTags)
    for (const name of args)
      if (!config.nodes.some((node) => node.name === name))
        throw new CorralError('not_found', `node ${name} does not exist`);
  const chosen = new Set(
    config.nodes
      .filter((node) => (byTags ? instanceTagged(node.tags) : wanted.has(node.name)))
      .map((node) => node.uuid),
  );
  const primary = ['node', 'primary', 'node-tags', 'pri-node-tags'].includes(mode);
  const secondary = ['node', 'secondary', 'node-tags', 'sec-node-tags'].includes(mode);
  return config.instances
    .filter(
      (instance) =>
        (primary && chosen.has(instance.primaryNode)) ||
        (secondary && instance.secondaryNodes.some((uuid) => chosen.has(uuid))),
    )
    .map((instance) => instance.name)
    .sort();
}

/** Ganeti's question before acting on several instances, with the list when it is short. */
export function multipleQuestion(verb: string, instances: readonly string[], extra = ''): string {
  const affected =
    instances.length > 20 ? '' : `\nAffected instances:\n${instances.map((n) => `  ${n}`).join('\n')}`;
  return `The ${verb} will operate on ${instances.length} instances.\n${extra}Do you want to continue?${affected}`;
}

/** The one-line refusal when nobody can be asked: what would have been done, and the option that answers. */
export function multipleRefusal(verb: string, instances: readonly string[]): string {
  const shown = instances.slice(0, 8).join(', ') + (instances.length > 8 ? ', …' : '');
  return `${verb} would act on ${instances.length} instance${instances.length === 1 ? '' : 's'} (${shown}): give --force-multiple to go ahead without being asked`;
}
