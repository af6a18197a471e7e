import type { BalanceStep } from './balance.js';
import type { Move } from './moves.js';
import type { InstState } from './state.js';

/** Ganeti opcodes as plain dicts, the shape iallocator answers and jobs carry. */
export type OpCode =
  | {
      readonly OP_ID: 'OP_INSTANCE_MIGRATE';
      readonly instance_name: string;
      readonly cleanup: false;
      readonly allow_failover: true;
      readonly allow_runtime_changes: false;
      readonly ignore_ipolicy: false;
      readonly ignore_hvversions: true;
      readonly target_node?: string;
    }
  | {
      readonly OP_ID: 'OP_INSTANCE_FAILOVER';
      readonly instance_name: string;
      readonly ignore_consistency: false;
      readonly ignore_ipolicy: false;
      readonly cleanup: false;
      readonly shutdown_timeout: number;
    }
  | {
      readonly OP_ID: 'OP_INSTANCE_REPLACE_DISKS';
      readonly instance_name: string;
      readonly mode: 'replace_new_secondary';
      readonly remote_node: string;
      readonly disks: readonly number[];
      readonly early_release: false;
      readonly ignore_ipolicy: false;
    };

/** The opcodes that carry out one move (htools' iMoveToJob). */
export function moveToOpcodes(inst: InstState, move: Move, nodeName: (idx: number) => string): OpCode[] {
  const name = inst.name;
  const migrate = (target?: string): OpCode => ({
    OP_ID: 'OP_INSTANCE_MIGRATE',
    instance_name: name,
    cleanup: false,
    allow_failover: true,
    allow_runtime_changes: false,
    ignore_ipolicy: false,
    ignore_hvversions: true,
    ...(target === undefined ? {} : { target_node: target }),
  });
  // A forthcoming instance has nothing running to migrate.
  const failover = (): OpCode =>
    inst.forthcoming
      ? {
          OP_ID: 'OP_INSTANCE_FAILOVER',
          instance_name: name,
          ignore_consistency: false,
          ignore_ipolicy: false,
          cleanup: false,
          shutdown_timeout: 120,
        }
      : migrate();
  const replace = (node: number): OpCode => ({
    OP_ID: 'OP_INSTANCE_REPLACE_DISKS',
    instance_name: name,
    mode: 'replace_new_secondary',
    remote_node: nodeName(node),
    disks: [],
    early_release: false,
    ignore_ipolicy: false,
  });
  switch (move.kind) {
    case 'failover':
      return [failover()];
    case 'failover-to-any':
      return [migrate(nodeName(move.node))];
    case 'replace-primary':
      return [failover(), replace(move.node), failover()];
    case 'replace-secondary':
      return [replace(move.node)];
    case 'replace-and-failover':
      return [replace(move.node), failover()];
    case 'failover-and-replace':
      return [failover(), replace(move.node)];
  }
}

/** hbal's gnt-instance commands for one move. */
export function moveToCommands(inst: InstState, move: Move, nodeName: (idx: number) => string): string[] {
  const verb = inst.status === 'running' || inst.status === 'ERROR_up' ? 'migrate' : 'failover';
  const mig = `${verb} -f ${inst.name}`;
  const rep = (n: number): string => `replace-disks -n ${nodeName(n)} ${inst.name}`;
  switch (move.kind) {
    case 'failover':
      return [mig];
    case 'failover-to-any':
      return [`${verb} -f -n ${nodeName(move.node)} ${inst.name}`];
    case 'replace-primary':
      return [mig, rep(move.node), mig];
    case 'replace-secondary':
      return [rep(move.node)];
    case 'replace-and-failover':
      return [rep(move.node), mig];
    case 'failover-and-replace':
      return [mig, rep(move.node)];
  }
}

/**
 * Splits steps into job sets as hbal does: consecutive steps that touch disjoint nodes run in
 * parallel; a step that shares a node with the current set starts the next one.
 */
export function splitJobSets(steps: readonly BalanceStep[]): BalanceStep[][] {
  const sets: BalanceStep[][] = [];
  let busy = new Set<number>();
  for (const step of steps) {
    const nodes = [step.from.primary, step.from.secondary, step.to.primary, step.to.secondary].filter(
      (n) => n >= 0,
    );
    const current = sets[sets.length - 1];
    if (current !== undefined && nodes.every((n) => !busy.has(n))) {
      current.push(step);
      for (const n of nodes) busy.add(n);
    } else {
      sets.push([step]);
      busy = new Set(nodes);
    }
  }
  return sets;
}
