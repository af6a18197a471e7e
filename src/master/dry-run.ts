import type { AgentCall, AgentRequest } from '../cluster/agent-protocols.js';
import type { OpContext } from './op-context.js';

/**
 * Ganeti's --dry-run: an opcode runs its checks and changes nothing. Corral's opcodes check first and act
 * after, so a dry run is the opcode run in a context whose first change stops it: a configuration commit, a
 * job submitted, a node told to act. What it may still do is read: the configuration, the nodes' status
 * and OS definitions, a mirror's state, the export list. Hooks do not run (as in Ganeti).
 */
export class DryRunStop extends Error {
  override readonly name = 'DryRunStop';
  constructor(readonly before: string) {
    super(`dry run: stopped before ${before}`);
  }
}

/** Whether a node-agent call only reads. */
function readsOnly<K extends AgentCall>(kind: K, request: AgentRequest<K>): boolean {
  switch (kind) {
    case 'status':
    case 'checkParams':
    case 'osDiagnose':
    case 'readExport':
      return true;
    case 'mirror':
      return (request as AgentRequest<'mirror'>).action === 'status';
    case 'exports':
      return (request as AgentRequest<'exports'>).action === 'list';
    case 'disks':
      return (request as AgentRequest<'disks'>).action === 'sizes';
    default:
      return false;
  }
}

export function dryRunContext(ctx: OpContext): OpContext {
  return {
    ...ctx,
    agent: {
      probe: (address, signal) => ctx.agent.probe(address, signal),
      info: (peer, signal) => ctx.agent.info(peer, signal),
      admit: async () => {
        throw new DryRunStop('admitting the node');
      },
      evict: async () => {
        throw new DryRunStop('telling the node it left the cluster');
      },
      call: (peer, kind, request, options) => {
        if (!readsOnly(kind, request)) throw new DryRunStop(`asking a node to ${String(kind)}`);
        return ctx.agent.call(peer, kind, request, options);
      },
    },
    // Health and power status only read; the power commands act on the machines.
    oob: {
      run: (program, command, node, options) => {
        if (command !== 'health' && command !== 'power-status')
          throw new DryRunStop(`running ${program} ${command} ${node}`);
        return ctx.oob.run(program, command, node, options);
      },
    },
    masterIp: {
      set: async (up) => {
        throw new DryRunStop(`${up ? 'adding' : 'removing'} the master IP`);
      },
    },
    commit: async () => {
      throw new DryRunStop('changing the configuration');
    },
    submitJobs: async () => {
      throw new DryRunStop('submitting jobs');
    },
  };
}
