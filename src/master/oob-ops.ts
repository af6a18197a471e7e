import { type ConfigData, nodeById, requireNode, sortedNodes } from '../cluster/config.js';
import type { NodeRecord } from '../cluster/model.js';
import { filledNdParams } from '../cluster/ndparams.js';
import {
  alarmingHealth,
  checkOobPayload,
  OOB_POWER_DELAY_S,
  OOB_TIMEOUT_S,
  type OobCommand,
  type OobNodeResult,
  oobSkipMaster,
  parseOobOutput,
  RS_NODATA,
  RS_NORMAL,
  RS_UNAVAIL,
} from '../cluster/oob.js';
import type { Opcode } from '../cluster/opcodes.js';
import { niceCompare } from '../cluster/query/rows.js';
import { CorralError } from '../common/errors.js';
import type { LockRequest } from './locks.js';
import { type OpContext, type OpDefinition, pauseJob } from './op-context.js';

/**
 * Ganeti's LUOobCommand: for each node, the master runs the node's oob_program (its filled node
 * parameters) on its own host and checks what it prints; power-on and power-off record the node's power
 * state in the configuration.
 */

type OobOp = Extract<Opcode, { OP_ID: 'OP_OOB_COMMAND' }>;

/** The node's filled oob_program; '' when it has none. */
export function oobProgram(config: ConfigData, node: NodeRecord): string {
  return filledNdParams(config.cluster, config.groups.get(node.group), node).oob_program;
}

/** Ganeti's CheckPrereq: the nodes to run on, in Ganeti's order, or a refusal naming the user's input. */
export function oobTargets(config: ConfigData, op: OobOp): NodeRecord[] {
  const master = config.master === undefined ? undefined : nodeById(config, config.master);
  const skipsMaster = oobSkipMaster.includes(op.command);
  let nodes: NodeRecord[];
  if (op.node_names.length > 0) {
    nodes = [...new Set(op.node_names)].map((name) => requireNode(config, name));
    if (skipsMaster && master !== undefined && nodes.some((node) => node.uuid === master.uuid)) {
      const program = oobProgram(config, master);
      const how =
        program === ''
          ? 'it does not support out-of-band operations'
          : `run '${program} ${op.command} ${master.name}' if you want to operate on the master regardless`;
      throw new CorralError(
        'bad_request',
        `Operating on the master node ${master.name} is not allowed for ${op.command}; ${how}`,
      );
    }
  } else {
    nodes = sortedNodes(config).filter((node) => !(skipsMaster && node.uuid === master?.uuid));
  }
  if (op.command === 'power-off' && op.ignore_status !== true)
    for (const node of nodes)
      if (!node.offline)
        throw new CorralError(
          'conflict',
          `Cannot power off node ${node.name} because it is not marked offline (node modify -O yes, or --ignore-status)`,
        );
  return nodes.sort((a, b) => niceCompare(a.name, b.name));
}

async function runOne(ctx: OpContext, op: OobOp, node: NodeRecord, program: string): Promise<unknown> {
  let stdout: string;
  try {
    stdout = await ctx.oob.run(program, op.command, node.name, {
      timeoutMs: (op.timeout ?? OOB_TIMEOUT_S) * 1000,
      signal: ctx.signal,
    });
  } catch (error) {
    // The runner's failures are the program's (CorralError); anything else stops the job (a dry run's stop).
    if (ctx.signal.aborted || !(error instanceof CorralError)) throw error;
    ctx.log(` - WARNING: Out-of-band RPC failed on node '${node.name}': ${error.message}`);
    return undefined;
  }
  const parsed = parseOobOutput(stdout);
  const errors = 'error' in parsed ? [parsed.error] : checkOobPayload(op.command, parsed.payload);
  if (errors.length > 0) {
    ctx.log(
      ` - WARNING: Payload returned by node '${node.name}' is not valid: Check of out-of-band payload failed due to ${errors.join(', ')}`,
    );
    return undefined;
  }
  return (parsed as { payload: unknown }).payload;
}

/** What the node's power state becomes after the command, if it changes it. */
const poweredAfter: Partial<Record<OobCommand, boolean>> = { 'power-on': true, 'power-off': false };

async function oobCommand(op: OobOp, ctx: OpContext): Promise<OobNodeResult[]> {
  const nodes = oobTargets(ctx.config(), op);
  const result: OobNodeResult[] = [];
  for (const [index, node] of nodes.entries()) {
    const program = oobProgram(ctx.config(), node);
    if (program === '') {
      result.push([
        [RS_NORMAL, node.name],
        [RS_UNAVAIL, null],
      ]);
      continue;
    }
    ctx.log(`Executing out-of-band command '${op.command}' using '${program}' on ${node.name}`);
    const payload = await runOne(ctx, op, node, program);
    if (payload === undefined) {
      result.push([
        [RS_NORMAL, node.name],
        [RS_NODATA, null],
      ]);
      continue;
    }
    if (op.command === 'health')
      for (const [item, status] of alarmingHealth(payload as [string, string][]))
        ctx.log(` - WARNING: Item '${item}' on node '${node.name}' has status '${status}'`);
    const recorded = ctx.config().nodes.get(node.uuid)?.powered ?? true;
    if (op.command === 'power-status' && (payload as { powered: boolean }).powered !== recorded)
      ctx.log(
        ` - WARNING: Recorded power state (${recorded}) of node '${node.name}' does not match actual power state (${(payload as { powered: boolean }).powered})`,
      );
    const powered = poweredAfter[op.command];
    if (powered !== undefined)
      await ctx.commit({ type: 'node-set', uuid: node.uuid, changes: { powered }, autoPromote: false });
    result.push([
      [RS_NORMAL, node.name],
      [RS_NORMAL, payload],
    ]);
    if (op.command === 'power-on' && index < nodes.length - 1)
      await pauseJob(ctx, (op.power_delay ?? OOB_POWER_DELAY_S) * 1000);
  }
  return result;
}

function locks(op: OobOp): LockRequest[] {
  return [
    { level: 'cluster', names: ['BGL'], mode: 'shared' },
    { level: 'node', names: op.node_names.length > 0 ? [...op.node_names] : 'all', mode: 'exclusive' },
  ];
}

export const oobOpDefinitions: { readonly OP_OOB_COMMAND: OpDefinition<OobOp> } = {
  OP_OOB_COMMAND: {
    // A new master does not run power commands again: the old one may have powered the nodes already.
    onTakeover: 'fail',
    locks,
    run: async (op, ctx) => ({ result: await oobCommand(op, ctx) }),
  },
};
