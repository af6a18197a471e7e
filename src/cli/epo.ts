import { filledNdParams } from '../cluster/ndparams.js';
import type { ConfigView } from '../cluster/views.js';
import { CorralError } from '../common/errors.js';

/**
 * gnt-cluster epo's decisions (Ganeti's Epo), as a pure function of the configuration: which nodes the
 * emergency power-off (or --on) affects, which of them the out-of-band program powers, and which instances
 * stop first (or start again once all their nodes are back).
 */

export interface EpoOptions {
  readonly on: boolean;
  readonly groups: boolean;
  readonly all: boolean;
}

export interface EpoPlan {
  /** Every node affected, as named or in the groups named. */
  readonly allNodes: string[];
  /** The nodes to power off (or on) through their out-of-band program. */
  readonly powerNodes: string[];
  /** Each affected instance, with the affected nodes it needs back before it starts (none: on the master). */
  readonly instances: Map<string, Set<string>>;
  /** What Ganeti tells the user on the way (nodes it cannot power, nodes already in the state wanted). */
  readonly notes: string[];
}

export function epoPlan(config: ConfigView, args: readonly string[], options: EpoOptions): EpoPlan {
  if (options.groups && options.all)
    throw new CorralError('bad_request', 'Only one of --groups or --all are allowed');
  if (args.length > 0 && options.all)
    throw new CorralError(
      'bad_request',
      `Arguments in combination with --all are not allowed (${args.join(', ')})`,
    );
  const byName = new Map(config.nodes.map((node) => [node.name, node]));
  let names: string[];
  if (options.groups) {
    names = args.flatMap((name) => {
      const group = config.groups.find((g) => g.name === name || g.uuid === name);
      if (group === undefined) throw new CorralError('not_found', `node group ${name} does not exist`);
      return config.nodes.filter((node) => node.group === group.uuid).map((node) => node.name);
    });
  } else if (args.length > 0) {
    names = args.map((name) => {
      if (!byName.has(name)) throw new CorralError('not_found', `node ${name} is not in the cluster`);
      return name;
    });
  } else {
    names = config.nodes.map((node) => node.name);
  }
  const nodes = [...new Set(names)].map((name) => byName.get(name)!);
  const groups = new Map(config.groups.map((group) => [group.uuid, group]));
  const powerNodes: string[] = [];
  const instances = new Map<string, Set<string>>();
  const notes: string[] = [];
  for (const node of nodes) {
    const master = node.id === config.master;
    if (!node.offline) {
      const hosted = config.instances.filter(
        (instance) => instance.primaryNode === node.uuid || instance.secondaryNodes.includes(node.uuid),
      );
      for (const { name } of hosted) {
        const needs = instances.get(name);
        if (needs !== undefined) {
          if (!master) needs.add(node.name);
        } else instances.set(name, master ? new Set() : new Set([node.name]));
      }
    }
    const oob = filledNdParams(config.cluster, groups.get(node.group), node).oob_program !== '';
    const powered = oob ? (node.powered ?? true) : undefined;
    // Ganeti operates on the master when it turns machines on: it is running already.
    if (master && options.on) continue;
    if (master && !options.all)
      throw new CorralError(
        'conflict',
        `${node.name} is the master node, please do a master-failover to another node not affected by the EPO or use --all if you intend to shutdown the whole cluster`,
      );
    if (powered === undefined)
      notes.push(
        `Node ${node.name} does not support out-of-band handling, it can not be handled in a fully automated manner`,
      );
    else if (powered === options.on)
      notes.push(`Node ${node.name} is already in desired power state, skipping`);
    else if (!node.offline || powered) powerNodes.push(node.name);
  }
  return { allNodes: nodes.map((node) => node.name), powerNodes, instances, notes };
}

/** The instances whose affected nodes are all back (Ganeti's _MaybeInstanceStartup), taken out of the map. */
export function startable(instances: Map<string, Set<string>>, up: ReadonlySet<string>): string[] {
  const ready = [...instances].filter(([, needs]) => [...needs].every((node) => up.has(node)));
  for (const [name] of ready) instances.delete(name);
  return ready.map(([name]) => name);
}
