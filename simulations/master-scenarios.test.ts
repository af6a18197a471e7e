import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import type { JobId } from '../src/cluster/model.js';
import { opcodeSchema, opTarget } from '../src/cluster/opcodes.js';
import { asNodeId } from '../src/common/ids.js';
import { checkTrace } from '../test/helpers/datadriven.js';
import { MasterWorld } from './master-world.js';

/**
 * Failover and fencing stories in the manner of pve-ha-manager's scenario folders: each file in
 * master-scenarios/ is a script of commands (form a cluster, submit jobs, cut nodes off, crash them, let time
 * pass) and, under each, what the cluster shows afterwards, in simulated time. `REWRITE=1 npx vitest run
 * simulations/master-scenarios.test.ts` rewrites the expected output (read the diff before committing it).
 */
const dir = join(import.meta.dirname, 'master-scenarios');

class ScenarioRunner {
  private world: MasterWorld | undefined;
  private lastJob: JobId | undefined;

  async run(line: string): Promise<readonly string[]> {
    const [command = '', ...args] = line.trim().split(/\s+/);
    const world = this.world;
    if (command === 'cluster') {
      const { nodes = '3', seed = '1' } = keyValues(args);
      this.world = new MasterWorld({ seed: Number(seed), nodes: Number(nodes), watcherIntervalMs: 2_000 });
      await this.world.form();
      return [`formed ${nodes} nodes; master ${this.master()}`];
    }
    if (world === undefined) throw new Error('start with: cluster nodes=N seed=S');
    const at = () => `t=${(world.clock.monotonicMs() / 1000).toFixed(1)}s`;
    switch (command) {
      case 'submit': {
        const [via = '', ...json] = args;
        const op = opcodeSchema.parse(JSON.parse(json.join(' ')));
        this.lastJob = await world.submit(asNodeId(via), [op]);
        return [`job ${this.lastJob} submitted through ${via}`];
      }
      case 'wait': {
        // `wait NODE log` shows the job's log too, each line at its simulated time; `wait NODE result` what
        // each opcode returned.
        const [via = 'node1', withLog] = args;
        if (this.lastJob === undefined) throw new Error('no job to wait for');
        const job = await world.waitJob(asNodeId(via), this.lastJob).catch((error: Error) => error);
        if (job instanceof Error) return [`${at()} job ${this.lastJob}: ${job.message}`];
        const failure = job.ops.find((op) => op.status === 'error')?.result as
          | { message?: string }
          | undefined;
        const epochMs = world.clock.wallMs() - world.clock.monotonicMs();
        const log =
          withLog === 'log'
            ? job.log.map((entry) => `  t=${((entry.tsMs - epochMs) / 1000).toFixed(1)}s ${entry.message}`)
            : withLog === 'result'
              ? job.ops.map((op) => `  ${JSON.stringify(op.result)}`)
              : [];
        return [
          `${at()} job ${job.id} ${job.status}${failure?.message ? `: ${failure.message}` : ''}`,
          ...log,
        ];
      }
      case 'crash':
        world.crash(asNodeId(args[0] ?? ''));
        return ['ok'];
      case 'boot':
        await world.boot(asNodeId(args[0] ?? ''));
        return ['ok'];
      case 'isolate': {
        const cut = asNodeId(args[0] ?? '');
        world.network.partition(
          [cut],
          world.machines.map((machine) => machine.id).filter((id) => id !== cut),
        );
        return ['ok'];
      }
      case 'heal':
        world.network.heal();
        return ['ok'];
      case 'run': {
        await world.runFor(Number.parseFloat(args[0] ?? '0') * 1000);
        return [`${at()} master ${this.master()}`];
      }
      case 'guests': {
        const lines = world
          .guests()
          .map(({ node, guest }) => `${guest.name} ${guest.state} on ${node}`)
          .sort();
        return lines.length > 0 ? lines : ['none'];
      }
      case 'instances': {
        const config = world.machines.find((machine) => machine.up)?.service?.localConfig();
        const lines = [...(config?.instances.values() ?? [])]
          .map((instance) => {
            const node = config?.nodes.get(instance.primaryNode)?.name ?? instance.primaryNode;
            return `${instance.name} on ${node}, ${instance.adminState}`;
          })
          .sort();
        return lines.length > 0 ? lines : ['none'];
      }
      case 'write': {
        const [instance = '', offset = '0', value = '1'] = args;
        return [`${at()} ${await world.guestWrite(instance, Number(offset), Number(value))}`];
      }
      case 'copies':
        return world.copies(args[0] ?? '');
      case 'jobs': {
        // The jobs the cluster ran that the scenario did not submit: the watcher's and automatic failovers.
        const service = world.machines.find((machine) => machine.up)?.service;
        const epochMs = world.clock.wallMs() - world.clock.monotonicMs();
        const jobs = (await service?.view(false))?.jobs.jobs() ?? [];
        const lines = jobs
          .filter((job) => !job.key.startsWith('sim-submit-'))
          .map((job) => {
            const ops = job.ops.map((op) => `${op.input.OP_ID} ${opTarget(op.input) ?? ''}`).join(', ');
            const ended =
              job.endMs === undefined ? '' : ` at t=${((job.endMs - epochMs) / 1000).toFixed(1)}s`;
            const first = job.log[0]?.message;
            return `job ${job.id} ${job.status}${ended}: ${ops}${first === undefined ? '' : `\n  ${first}`}`;
          });
        return lines.length > 0 ? lines : ['none'];
      }
      default:
        throw new Error(`unknown command ${command}`);
    }
  }

  /** The master as the replicated configuration names it, read on a node that is up. */
  private master(): string {
    const config = this.world?.machines.find((machine) => machine.up)?.service?.localConfig();
    return config?.master ?? 'none';
  }
}

function keyValues(args: readonly string[]): Record<string, string> {
  return Object.fromEntries(args.map((arg) => arg.split('=', 2) as [string, string]));
}

describe('master scenarios', () => {
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.txt'))) {
    it(file, async () => {
      const runner = new ScenarioRunner();
      await checkTrace(join(dir, file), (command) => runner.run(command));
    }, 60_000);
  }
});
