import type { AgentResponse } from '../src/cluster/agent-protocols.js';
import type { OsCatalog } from '../src/daemon/node-agent.js';

/** The one OS definition simulated nodes have: valid, with no variants or parameters. */
export const SIM_OS = 'sim';

/**
 * Ganeti's OS interface as the simulator sees it: every script succeeds at once, an export script writes a
 * small dump naming the instance and disk, and an import script reads what it is given. What the scripts do
 * to a guest is not the simulator's concern; that the master runs them in the right order, on the right node,
 * is.
 */
export function simOsCatalog(): OsCatalog {
  return {
    async diagnose(): Promise<AgentResponse<'osDiagnose'>['oses']> {
      return [
        { name: SIM_OS, dir: '/memory/os/sim', valid: true, apiVersions: [20], variants: [], parameters: [] },
      ];
    },
    async run(script, request, _diskPaths, _signal, dump) {
      if (script === 'export')
        await dump?.stdout?.(
          new TextEncoder().encode(`dump of ${request.spec.name} ${request.extraEnv.EXPORT_INDEX}\n`),
        );
      if (script === 'import' && dump?.stdin !== undefined) for await (const _chunk of dump.stdin);
      return { exitCode: 0, timedOut: false, output: `${script} ${request.spec.name}\n` };
    },
  };
}
