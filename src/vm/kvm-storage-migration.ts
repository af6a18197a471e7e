import { createServer } from 'node:net';
import { z } from 'zod';
import { CorralError } from '../common/errors.js';
import { waitFor } from '../common/wait.js';
import type { StorageEndpoint } from './hypervisor.js';
import { uriHost } from './kvm-command.js';
import type { QmpClient } from './qmp.js';

/**
 * Live migration of disks that only the source node holds (file, plain), as libvirt does it. The target QEMU,
 * paused, exports its empty disks over NBD; the source mirrors each disk into that export while the guest
 * runs, in write-blocking mode, so that once a mirror is ready every guest write reaches both copies before
 * the guest sees it complete. Memory then migrates as usual. Once the source guest has stopped for good,
 * cancelling a ready mirror leaves the target a copy as of that moment; only then may the target resume.
 */

/** Another process may take the port between our probe and QEMU's bind: try a few. */
const exportPortAttempts = 5;
/** How long a ready mirror may take to conclude once cancelled: it only writes what is in flight. */
const mirrorCompleteTimeoutMs = 60_000;
const mirrorPollMs = 100;

const blockJobsSchema = z.array(
  z.object({
    device: z.string(),
    status: z.string(),
    len: z.number(),
    offset: z.number(),
    error: z.string().optional(),
  }),
);
type BlockJob = z.infer<typeof blockJobsSchema>[number];
const blockExportsSchema = z.array(z.object({ id: z.string() }));

function mirrorJobId(drive: string): string {
  return `mirror-${drive}`;
}

/** A port on `host` that nothing listens on right now. */
function unusedPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new CorralError('internal', `no port found on ${host}`)),
      );
    });
  });
}

/**
 * Target side: starts an NBD server on `host` and exports the instance's disks, writable, each under its drive
 * id (kvm-devices.ts), which is the source's too. QEMU cannot say which port it bound when given port 0, so a
 * free one is found first and retried if taken.
 */
export async function exportDisks(
  q: QmpClient,
  host: string,
  drives: readonly string[],
): Promise<StorageEndpoint> {
  let port: number | undefined;
  for (let attempt = 1; port === undefined; attempt++) {
    const candidate = await unusedPort(host);
    try {
      await q.execute('nbd-server-start', {
        addr: { type: 'inet', data: { host, port: String(candidate) } },
      });
      port = candidate;
    } catch (error) {
      if (attempt >= exportPortAttempts) throw error;
    }
  }
  const exports: string[] = [];
  for (const name of drives) {
    await q.execute('block-export-add', {
      type: 'nbd',
      id: name,
      'node-name': name,
      writable: true,
      name,
    });
    exports.push(name);
  }
  return { port, exports };
}

/** Target side: ends the exports, so that nothing but the guest writes its disks from now on. */
export async function stopExports(q: QmpClient): Promise<void> {
  if (blockExportsSchema.parse(await q.execute('query-block-exports')).length > 0)
    await q.execute('nbd-server-stop');
}

export interface MirrorOptions {
  /** The target's host (its secondary IP) and its NBD server. */
  readonly host: string;
  readonly storage: StorageEndpoint;
  readonly bytesPerSecond: number;
  readonly timeoutMs: number;
}

/** The source's mirrors into the target's exports, from start to their end. */
export interface DiskMirrors {
  /** Resolves once every disk is in sync with its copy. */
  ready(): Promise<void>;
  /** After the guest stopped for good: ends the mirrors, leaving complete copies; resolves with the bytes copied. */
  complete(): Promise<number>;
  /** Cancels every mirror, leaving the target's copies incomplete. */
  abort(): Promise<void>;
}

/** Source side: starts one mirror per disk into the target's exports, which bear the disks' drive ids. */
export async function startMirrors(q: QmpClient, options: MirrorOptions): Promise<DiskMirrors> {
  const ids = options.storage.exports.map(mirrorJobId);
  const ours = async (): Promise<BlockJob[]> =>
    blockJobsSchema.parse(await q.execute('query-block-jobs')).filter((job) => ids.includes(job.device));

  /** Polls until every mirror is in one of `statuses`; a mirror that failed or vanished fails the wait. */
  const awaitAll = async (statuses: readonly string[], timeoutMs: number, what: string) => {
    const broken = (job: BlockJob | undefined) =>
      job === undefined ||
      job.error !== undefined ||
      (job.status === 'concluded' && !statuses.includes('concluded'));
    const jobs = await waitFor(
      async () => {
        const current = await ours();
        const byId = ids.map((id) => current.find((job) => job.device === id));
        return byId.some(broken) || byId.every((job) => job !== undefined && statuses.includes(job.status))
          ? byId
          : undefined;
      },
      { timeoutMs, intervalMs: mirrorPollMs, what },
    );
    const failed = jobs.findIndex(broken);
    if (failed >= 0)
      throw new CorralError(
        'unavailable',
        `copying ${options.storage.exports[failed]} to ${options.host} failed: ${jobs[failed]?.error ?? 'the mirror ended early'}`,
      );
    return jobs.filter((job): job is BlockJob => job !== undefined);
  };

  const dismissConcluded = async () => {
    for (const job of await ours()) {
      if (job.status === 'concluded') await q.execute('job-dismiss', { id: job.device });
    }
  };

  const abort = async () => {
    for (const job of await ours()) {
      if (job.status !== 'concluded')
        await q.execute('block-job-cancel', { device: job.device, force: true });
    }
    await waitFor(
      async () => ((await ours()).every((job) => job.status === 'concluded') ? true : undefined),
      {
        timeoutMs: mirrorCompleteTimeoutMs,
        intervalMs: mirrorPollMs,
        what: 'the cancelled disk mirrors to end',
      },
    );
    await dismissConcluded();
  };

  const nbdUri = (name: string) => `nbd://${uriHost(options.host)}:${options.storage.port}/${name}`;
  try {
    for (const [index, name] of options.storage.exports.entries()) {
      await q.execute('drive-mirror', {
        device: name,
        'job-id': ids[index],
        target: nbdUri(name),
        format: 'raw',
        mode: 'existing',
        sync: 'full',
        'copy-mode': 'write-blocking',
        speed: options.bytesPerSecond,
        // Concluded jobs stay listed, with their error, until dismissed: the polls below read them there.
        'auto-dismiss': false,
      });
    }
  } catch (error) {
    await abort().catch(() => {});
    throw error;
  }

  return {
    async ready() {
      await awaitAll(['ready'], options.timeoutMs, `the disks to be copied to ${options.host}`);
    },
    async complete() {
      // Cancelling a ready mirror is how QEMU ends it without switching the guest over to the copy.
      for (const id of ids) await q.execute('block-job-cancel', { device: id });
      const jobs = await awaitAll(['concluded'], mirrorCompleteTimeoutMs, 'the disk mirrors to end');
      await dismissConcluded();
      return jobs.reduce((sum, job) => sum + job.offset, 0);
    },
    abort,
  };
}
