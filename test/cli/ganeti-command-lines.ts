import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_HA_PARAMS } from '../../src/cluster/lease.js';
import { DEFAULT_BE_PARAMS } from '../../src/cluster/model.js';
import type { Opcode } from '../../src/cluster/opcodes.js';
import { type ConfigView, configViewSchema } from '../../src/cluster/views.js';
import type { ControlRequest } from '../../src/daemon/control-protocol.js';
import type { DaemonCall } from '../../src/daemon/job-client.js';
import { type Captured, captureCli } from './fake-daemon.js';

/**
 * Runs a command line through the CLI's own yargs parser and command handlers, with a fake daemon behind
 * them that records the jobs submitted and ends each one in success at once. No socket, no cluster.
 */

const times = { ctimeMs: 1_700_000_000_000, mtimeMs: 1_700_000_000_000 };

const node = (name: string, tags: string[] = []): ConfigView['nodes'][number] => ({
  uuid: `u-${name}`,
  name,
  id: `peer-${name}`,
  addrs: ['/ip4/127.0.0.1/tcp/7400'],
  primaryIp: '127.0.0.1',
  secondaryIp: '127.0.0.1',
  group: 'g1',
  masterCandidate: true,
  masterCapable: true,
  vmCapable: true,
  drained: false,
  offline: false,
  tags,
  serial: 1,
  ...times,
});

const instance = (
  name: string,
  primary: string,
  extra: Partial<ConfigView['instances'][number]> = {},
): ConfigView['instances'][number] => ({
  uuid: `i-${name}`,
  name,
  primaryNode: `u-${primary}`,
  secondaryNodes: [],
  os: 'noop',
  hypervisor: 'fake',
  hvParams: {},
  beParams: { maxmemMiB: 1536, vcpus: 1 },
  osParams: {},
  diskTemplate: 'file',
  disks: [{ uuid: `d-${name}`, sizeMiB: 10_240, mode: 'rw', format: 'raw' }],
  nics: [],
  adminState: 'up',
  adminStateSource: 'admin',
  disksActive: true,
  tags: [],
  serial: 1,
  ...times,
  ...extra,
});

/**
 * Three nodes (n1 in rack1, n2 in rack2, n3 untagged) and four instances: web1 on n1 and web2 on n2
 * (tagged web), db on n1 mirrored to n2, idle on n3.
 */
export const config: ConfigView = configViewSchema.parse({
  cluster: {
    name: 'c1',
    uuid: 'u-c1',
    ...times,
    candidatePoolSize: 3,
    enabledHypervisors: ['fake'],
    enabledDiskTemplates: ['file', 'drbd', 'plain', 'diskless'],
    maxRunningJobs: 20,
    candidateDeadGraceMs: 60_000,
    ha: DEFAULT_HA_PARAMS,
    beParams: DEFAULT_BE_PARAMS,
    nicParams: { mode: 'none', link: '' },
    macPrefix: 'aa:00:00',
    tags: [],
  },
  serial: 7,
  master: 'peer-n1',
  groups: [{ uuid: 'g1', name: 'default', allocPolicy: 'preferred', tags: [], serial: 1, ...times }],
  nodes: [node('n1', ['rack1']), node('n2', ['rack2']), node('n3')],
  instances: [
    instance('web1', 'n1', { tags: ['web'] }),
    instance('web2', 'n2', { tags: ['web'] }),
    instance('db', 'n1', { diskTemplate: 'drbd', secondaryNodes: ['u-n2'] }),
    instance('idle', 'n3', { adminState: 'down' }),
  ],
} satisfies ConfigView);

export interface Submitted {
  readonly job: number;
  readonly priority: number;
  readonly ops: Opcode[];
}

export interface Outcome extends Captured {
  /** The jobs submitted, in order. */
  readonly jobs: Submitted[];
  /** The questions asked on the "terminal". */
  readonly asked: string[];
}

/** Shell-like words: spaces split, single or double quotes keep a word whole. */
export function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** A file holding these lines, for options that read one (--from). */
export function fileWith(lines: readonly string[]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'corral-cli-')), 'lines');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/**
 * Runs `corral <line>`. `answer` is what the user says to a confirmation: yes, no, or undefined (no
 * terminal, as in a script).
 */
export async function runLine(line: string | readonly string[], answer?: boolean): Promise<Outcome> {
  const jobs: Submitted[] = [];
  const asked: string[] = [];
  const call = (async (request: ControlRequest) => {
    switch (request.op) {
      case 'config':
        return { config, master: 'peer-n1', self: 'peer-n1' };
      case 'nodes-live':
        // No node answered: live fields show as "no data".
        return { nodes: config.nodes.map((n) => ({ name: n.name, error: 'no answer' })) };
      case 'master': {
        if (request.request.op !== 'submit')
          throw new Error(`the fake daemon takes no ${request.request.op}`);
        const job = 100 + jobs.length;
        jobs.push({ job, priority: request.request.priority ?? 0, ops: request.request.ops as Opcode[] });
        return { job };
      }
      case 'job-wait': {
        const submitted = jobs.find((entry) => entry.job === request.job)!;
        return {
          job: {
            id: submitted.job,
            status: 'success',
            priority: submitted.priority,
            ops: submitted.ops.map((input) => ({ input, status: 'success', result: null })),
            log: [
              { serial: 1, tsMs: times.ctimeMs, type: 'message', message: `${submitted.ops[0]!.OP_ID} done` },
            ],
            receivedMs: times.ctimeMs,
            version: 1,
          },
        };
      }
      default:
        throw new Error(`the fake daemon has no answer for ${request.op}`);
    }
  }) as DaemonCall;
  const captured = await captureCli(typeof line === 'string' ? words(line) : line, call, async (question) => {
    asked.push(question);
    return answer;
  });
  return { ...captured, jobs, asked };
}
