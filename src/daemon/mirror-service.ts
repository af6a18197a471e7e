import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pushable } from 'it-pushable';
import type { AgentDisk } from '../cluster/agent-protocols.js';
import {
  type MirrorHello,
  mirrorHelloSchema,
  mirrorStream,
  mirrorWelcomeSchema,
  type ToPrimary,
  type ToSecondary,
} from '../cluster/mirror-protocol.js';
import { untilAborted } from '../common/abort.js';
import type { Clock } from '../common/clock.js';
import { timeoutSignal } from '../common/deadline.js';
import { asCorralError, CorralError } from '../common/errors.js';
import { asNodeId, type NodeId } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { decodeFrame, encodeFrame } from '../peer/codec.js';
import type { FrameStream, Transport } from '../peer/transport.js';
import { readActivityLog } from '../storage/mirror/activity-log.js';
import type { BlockStore } from '../storage/mirror/block-store.js';
import { type NbdExport, type NbdServer, serveNbd } from '../storage/mirror/nbd-server.js';
import { MirrorPrimary, type PrimaryLink, type PrimaryStatus } from '../storage/mirror/primary.js';
import { type CopyState, MirrorSecondary } from '../storage/mirror/secondary.js';
import { connectDataPlane, type DataPlaneServer } from './mirror-data-plane.js';
import type { CopyRecords, SavedAttachments } from './mirror-records.js';
import type { MirrorReporter } from './mirror-reporter.js';
import { decodeToPrimary, decodeToSecondary, encodeToPrimary, encodeToSecondary } from './mirror-wire.js';

export interface MirrorAttach {
  readonly instance: { readonly name: string; readonly uuid: string };
  readonly disks: readonly AgentDisk[];
  readonly role: 'primary' | 'secondary';
  readonly peer: NodeId;
  /** The peer's address on the replication network (its secondary IP): where the data connection goes. */
  readonly peerHost: string;
  readonly generation: number;
  /** Whether the config holds the peer's copy as current (a primary then sends it nothing to catch up). */
  readonly peerCurrent: boolean;
  /** Attach as primary even if this copy's own record says a resync into it did not finish. */
  readonly force: boolean;
  /** The copies may differ where writes were in flight when the daemon died: compare them all. */
  readonly verifyAll?: boolean;
}

export interface MirrorDiskStatus {
  readonly instance: string;
  readonly uuid: string;
  readonly index: number;
  readonly role: 'primary' | 'secondary';
  readonly peer: string;
  /** This copy's own record: whether a resync into it was left unfinished, and at which generation. */
  readonly copy: CopyState;
  /** The primary's view of the link and the peer's copy; absent on the secondary. */
  readonly primary?: PrimaryStatus;
}

export interface MirrorServiceDeps {
  /** Streams only: the link to a peer's copy, whose frames then move to the data plane. */
  readonly transport: Pick<Transport, 'openStream' | 'handleStream'>;
  /** Opens the copy of a disk on this node (the drbd template's image file). */
  openStore(instance: { readonly name: string; readonly uuid: string }, disk: AgentDisk): Promise<BlockStore>;
  readonly records: CopyRecords;
  /** Where secondaries here take their primaries' frames over TLS; without one, over the libp2p stream. */
  readonly dataPlane?: DataPlaneServer;
  reporter(): MirrorReporter | undefined;
  readonly clock: Clock;
  readonly log: Logger;
}

interface Attached {
  readonly instance: { readonly name: string; readonly uuid: string };
  readonly disk: AgentDisk;
  peer: NodeId;
  peerHost: string;
  readonly store: BlockStore;
  readonly role: 'primary' | 'secondary';
  readonly primary: MirrorPrimary | undefined;
  readonly secondary: MirrorSecondary | undefined;
  copy: CopyState;
  stopped: boolean;
}

const LINK_RETRY_MIN_MS = 100;
/** A dial that hangs (a peer not yet known where it listens) is retried rather than waited out. */
const DIAL_TIMEOUT_MS = 2_000;
/** How long a newly attached primary's writes wait for its first link (a restarted daemon's peer to answer). */
const FIRST_LINK_GRACE_MS = 5_000;
/** DRBD's default `timeout`: a peer that leaves a frame unanswered this long is taken for dead. */
const PEER_ACK_TIMEOUT_MS = 6_000;
const LINK_RETRY_MAX_MS = 2_000;
const HELLO_FRAME_BYTES = 1024;

/**
 * The mirrored disks attached on this node: the primary's engines, served to QEMU over NBD and linked to
 * their secondaries, and the secondaries' engines, fed by their primaries. The master attaches a disk on
 * both nodes when the instance starts (or its disks are activated) and detaches it when it stops; the link
 * is the primary's to dial and to redial. A secondary accepts a link only from the node the master named.
 */
export class MirrorService {
  private readonly attached = new Map<string, Attached>();
  private nbd: NbdServer | undefined;

  constructor(private readonly deps: MirrorServiceDeps) {}

  /** Serves the links of the disks attached here as secondaries. */
  register(): void {
    this.deps.transport.handleStream(mirrorStream, (stream, from) => {
      void this.serveLink(stream, from).catch((error: unknown) => {
        const reason = asCorralError(error);
        this.deps.log.warn({ peer: from, reason: reason.message }, 'refused a mirror link');
        stream.abort(reason);
      });
    });
  }

  /**
   * Serves the attached disks to QEMU over NBD on a unix socket (0600, in a 0700 directory): a primary's
   * disk through its engine, a secondary's read-only until it is promoted. Opens the data plane, and
   * attaches again what was attached when the daemon stopped.
   */
  async start(nbdSocket: string | undefined): Promise<void> {
    // The simulator's nodes serve no NBD: their fake guests open no disk.
    if (nbdSocket !== undefined) {
      await mkdir(dirname(nbdSocket), { recursive: true, mode: 0o700 });
      this.nbd = await serveNbd(nbdSocket, (name) => this.diskExport(name), this.deps.log);
    }
    await this.deps.dataPlane?.start();
    await this.restore();
  }

  /** Where the hypervisor reaches the attached disks: the NBD socket, or '' where none is served. */
  get nbdSocket(): string {
    return this.nbd?.path ?? '';
  }

  /**
   * Attaches again what was attached when the daemon stopped, so that running guests find their disks when
   * QEMU reconnects. After a crash, a primary cannot know which writes in flight reached its peer, so it
   * brings the peer level by a checksummed pass over the extents its activity log names, or over the whole
   * disk when it has no usable log (the master still decides whether this copy may serve).
   */
  private async restore(): Promise<void> {
    const saved = await this.deps.records.readAttachments();
    if (saved === undefined) return;
    for (const entry of saved.disks) {
      const request: MirrorAttach = {
        instance: entry.instance,
        disks: [entry.disk],
        role: entry.role,
        peer: asNodeId(entry.peer),
        peerHost: entry.peerHost,
        generation: entry.generation,
        // Never on a saved word that the peer is stale: the master may have counted it current again since
        // (a resync whose record the crash lost), and a primary that thinks it stale acknowledges writes the
        // peer misses without asking. Asking the master again for a copy it already holds stale costs a call.
        peerCurrent: true,
        force: false,
        verifyAll: !(saved.clean && entry.inSync),
      };
      try {
        await this.attachAll(request, 'restore');
      } catch (error) {
        this.deps.log.warn(
          { instance: entry.instance.name, reason: asCorralError(error).message },
          'could not attach a mirrored disk again after a restart',
        );
      }
    }
    await this.saveAttachments(false);
  }

  /** The simulator's crash: the engines stop where they are, and the records stay as they were written. */
  halt(): void {
    for (const entry of this.attached.values()) {
      entry.stopped = true;
      entry.primary?.halt();
    }
    this.attached.clear();
  }

  /** Flushes and closes every attached disk, recording them for the next start. */
  async stop(): Promise<void> {
    const disks = this.savedDisks();
    for (const entry of [...this.attached.values()]) await this.closeDisk(entry);
    this.attached.clear();
    await this.deps.records.writeAttachments({ clean: true, disks });
    await this.deps.dataPlane?.stop();
    await this.nbd?.close();
  }

  /**
   * The attached disks as a restart would attach them: whether the config holds a primary's peer current
   * (as far as its engine knows), and whether nothing was owed to the peer.
   */
  private savedDisks(): SavedAttachments['disks'] {
    return [...this.attached.values()].map((entry) => {
      const primary = entry.primary?.status();
      return {
        instance: entry.instance,
        disk: entry.disk,
        role: entry.role,
        peer: entry.peer,
        peerHost: entry.peerHost,
        generation: primary?.generation ?? entry.copy.generation,
        inSync: primary === undefined || primary.connection === 'connected',
      };
    });
  }

  private async saveAttachments(clean: boolean): Promise<void> {
    await this.deps.records.writeAttachments({ clean, disks: this.savedDisks() });
  }

  /**
   * Attaches the instance's disks in a role; attaching again in the same role with the same peer is a no-op.
   * A disk attached in another role or to another peer is detached first: the master decides the roles (a
   * failover out of a dead primary promotes the copy here, which was its secondary).
   */
  async attach(request: MirrorAttach): Promise<MirrorDiskStatus[]> {
    return this.attachAll(request, 'master');
  }

  /**
   * `by`: the master attaches a primary only on a copy its config counts current (or when told to ignore
   * consistency); a restarted daemon restores what it had on its own word.
   */
  private async attachAll(request: MirrorAttach, by: 'master' | 'restore'): Promise<MirrorDiskStatus[]> {
    for (const disk of request.disks) {
      const known = this.attached.get(disk.uuid);
      if (known !== undefined) {
        if (known.role === request.role && known.peer === request.peer) {
          known.peerHost = request.peerHost;
          // A restored attachment holds its peer current at the generation it saved; if the master recorded
          // the peer stale since (an outdate whose answer a crash lost), the primary would never mark it
          // consistent nor report it synced, and the mirror stayed degraded for good (master simulation,
          // seeds 42 and 76). Take the config's word: the peer is stale at its generation.
          const primary = known.primary?.status();
          if (
            primary !== undefined &&
            !request.peerCurrent &&
            (request.generation > primary.generation || !primary.peerOutdated)
          )
            known.primary?.peerIsStale(request.generation);
          continue;
        }
        this.attached.delete(disk.uuid);
        await this.closeDisk(known);
      }
      await this.attachDisk(request, disk, by);
    }
    await this.saveAttachments(false);
    return this.status(request.instance.uuid);
  }

  /**
   * Points the primary's copies of the instance's disks at a new peer (or at a copy of the same one made
   * anew), which the config holds as stale at `generation`: they bring it level with a full checksummed pass.
   */
  retarget(instanceUuid: string, peer: NodeId, peerHost: string, generation: number): MirrorDiskStatus[] {
    const entries = [...this.attached.values()].filter((entry) => entry.instance.uuid === instanceUuid);
    const primaries = entries.filter((entry) => entry.primary !== undefined);
    if (primaries.length === 0)
      throw new CorralError('conflict', 'the disks of that instance are not attached here as its primary');
    const recorded: Promise<void>[] = [];
    for (const entry of primaries) {
      entry.peer = peer;
      entry.peerHost = peerHost;
      recorded.push(entry.primary!.resetPeer(generation));
    }
    // The new peer is recorded only once the activity logs say a crash must compare the whole disk: until
    // then a restart links to the old peer, which the logs still describe.
    void Promise.all(recorded)
      .then(() => this.saveAttachments(false))
      .catch((error: unknown) =>
        this.deps.log.warn(
          { reason: asCorralError(error).message },
          'could not record the mirror attachments',
        ),
      );
    return this.status(instanceUuid);
  }

  /** Detaches the instance's disks here, or only those named (a disk removed from a running guest). */
  async detach(instanceUuid: string, diskUuids?: readonly string[]): Promise<void> {
    for (const [uuid, entry] of [...this.attached])
      if (entry.instance.uuid === instanceUuid && (diskUuids === undefined || diskUuids.includes(uuid))) {
        this.attached.delete(uuid);
        await this.closeDisk(entry);
      }
    await this.saveAttachments(false);
  }

  isAttached(diskUuid: string): boolean {
    return this.attached.has(diskUuid);
  }

  status(instanceUuid?: string): MirrorDiskStatus[] {
    return [...this.attached.values()]
      .filter((entry) => instanceUuid === undefined || entry.instance.uuid === instanceUuid)
      .sort((a, b) => a.disk.index - b.disk.index)
      .map((entry) => ({
        instance: entry.instance.uuid,
        uuid: entry.disk.uuid,
        index: entry.disk.index,
        role: entry.role,
        peer: entry.peer,
        copy: entry.copy,
        ...(entry.primary !== undefined && { primary: entry.primary.status() }),
      }));
  }

  /** Forgets a removed disk's record. */
  async forget(diskUuid: string): Promise<void> {
    await this.deps.records.forget(diskUuid);
  }

  private async attachDisk(request: MirrorAttach, disk: AgentDisk, by: 'master' | 'restore'): Promise<void> {
    const { instance, role, peer } = request;
    // A copy with no record was made whole by its creation (zeros on both nodes).
    let copy = (await this.deps.records.read(disk.uuid)) ?? {
      generation: request.generation,
      consistent: true,
    };
    if (role === 'primary' && !copy.consistent && !request.force) {
      if (by === 'restore')
        throw new CorralError(
          'conflict',
          `the copy of disk ${disk.index} of ${instance.name} on this node is inconsistent (a resync into it did not finish); start it on its peer, or use --ignore-consistency`,
        );
      // The config counts this copy current: the peer never acknowledged a write it lacks (it would have
      // recorded it stale first), so the unfinished resync into it moved only writes no guest was told of.
      copy = { generation: request.generation, consistent: true };
      await this.deps.records.write(disk.uuid, copy);
    }
    // A primary's activity log says where its copy and the peer's may differ after a crash. A secondary's
    // copy follows its primary's, and a log left from when it was the primary would only cost a needless
    // comparison (or a whole one) the next time it is.
    const logFile = this.deps.records.activityLog?.(disk.uuid);
    if (role === 'secondary') await logFile?.remove();
    const found = role === 'primary' && logFile !== undefined ? await readActivityLog(logFile) : undefined;
    const store = await this.deps.openStore(instance, disk);
    if (store.sizeBytes !== disk.sizeMiB * 1024 * 1024) {
      await store.close();
      throw new CorralError(
        'conflict',
        `the copy of disk ${disk.index} of ${instance.name} on this node has ${store.sizeBytes} bytes, not ${disk.sizeMiB} MiB`,
      );
    }
    const log = this.deps.log.child({ instance: instance.name, disk: disk.index });
    const entry: Attached = {
      instance,
      disk,
      peer,
      peerHost: request.peerHost,
      store,
      role,
      copy,
      stopped: false,
      primary:
        role === 'primary'
          ? new MirrorPrimary({
              store,
              generation: request.generation,
              peerCurrent: request.peerCurrent,
              verifyAll: request.verifyAll === true,
              ...(role === 'primary' && logFile !== undefined && { activityLog: { file: logFile, found } }),
              firstLinkGraceMs: FIRST_LINK_GRACE_MS,
              peerAckTimeoutMs: PEER_ACK_TIMEOUT_MS,
              outdatePeer: (generation) => this.reporter().outdate(instance.uuid, generation),
              peerSynced: (generation) => this.reporter().synced(instance.uuid, generation),
              clock: this.deps.clock,
              log,
            })
          : undefined,
      secondary:
        role === 'secondary'
          ? new MirrorSecondary(store, async (state) => {
              await this.deps.records.write(disk.uuid, state);
              entry.copy = state;
            })
          : undefined,
    };
    // The activity log records what this attachment starts from before the attach is answered (or recorded
    // for a restart): a crash right after must not find an older log's word that the copies are level.
    try {
      await entry.primary?.logged();
    } catch (error) {
      entry.primary?.halt();
      await store.close();
      throw new CorralError(
        'internal',
        `cannot write the activity log of disk ${disk.index} of ${instance.name}: ${asCorralError(error).message}`,
      );
    }
    this.attached.set(disk.uuid, entry);
    log.info({ role, peer }, 'attached a mirrored disk');
    if (entry.primary !== undefined) void this.keepLinked(entry, entry.primary);
  }

  private reporter(): MirrorReporter {
    const reporter = this.deps.reporter();
    if (reporter === undefined) throw new CorralError('unavailable', 'this node is not in a cluster yet');
    return reporter;
  }

  private async closeDisk(entry: Attached): Promise<void> {
    entry.stopped = true;
    await entry.primary?.close();
    await entry.store.close();
    this.deps.log.info({ instance: entry.instance.name, disk: entry.disk.index }, 'detached a mirrored disk');
  }

  /** The primary's side: dials the secondary, carries the link until it breaks, and dials again. */
  private async keepLinked(entry: Attached, primary: MirrorPrimary): Promise<void> {
    let delayMs = LINK_RETRY_MIN_MS;
    let failures = 0;
    while (!entry.stopped) {
      try {
        const link = await this.dial(entry);
        delayMs = LINK_RETRY_MIN_MS;
        failures = 0;
        await primary.runLink(link);
      } catch (error) {
        // The first failure of a streak says why; the retries after it would only repeat it.
        const log =
          failures++ === 0 ? this.deps.log.warn.bind(this.deps.log) : this.deps.log.debug.bind(this.deps.log);
        log(
          { peer: entry.peer, reason: (error as Error).message },
          'cannot link to the mirror peer; retrying',
        );
      }
      if (entry.stopped) return;
      await new Promise((resolve) => this.deps.clock.setTimer(delayMs, () => resolve(undefined)));
      delayMs = Math.min(delayMs * 2, LINK_RETRY_MAX_MS);
    }
  }

  private async dial(entry: Attached): Promise<PrimaryLink> {
    const stream = await this.deps.transport.openStream(entry.peer, mirrorStream, {
      timeoutMs: DIAL_TIMEOUT_MS,
    });
    const outgoing = pushable<Uint8Array>();
    const hello: MirrorHello = {
      instance: entry.instance.uuid,
      disk: entry.disk.uuid,
      sizeBytes: entry.store.sizeBytes,
      generation: entry.primary?.status().generation ?? 0,
    };
    outgoing.push(encodeFrame(hello, HELLO_FRAME_BYTES));
    void stream.send(outgoing).catch(() => undefined);
    const frames = stream.frames[Symbol.asyncIterator]();
    // A peer that lost the stream (a reset that a cut network dropped) never answers: dial again instead.
    const welcome = await untilAborted(frames.next(), timeoutSignal(this.deps.clock, DIAL_TIMEOUT_MS), () => {
      const silent = new CorralError('timeout', 'the mirror peer did not accept the link in time');
      stream.abort(silent);
      return silent;
    });
    if (welcome.done) throw new CorralError('closed', 'the mirror peer hung up before accepting the link');
    const { data } = decodeFrame(welcome.value, mirrorWelcomeSchema, HELLO_FRAME_BYTES);
    const { maxFrameBytes } = mirrorStream;
    if (data !== undefined) {
      // Where the config says the peer is on the replication network, not where it says it listens.
      const socket = await connectDataPlane(entry.peerHost, data, maxFrameBytes).finally(() => {
        outgoing.end();
        stream.abort(new CorralError('closed', 'the mirror link moved to its data connection'));
      });
      return {
        send: (frame: ToSecondary) => {
          const { head, payload } = encodeToSecondary(frame, maxFrameBytes);
          socket.send(head, payload);
        },
        replies: decoded(socket.frames, (bytes) => decodeToPrimary(bytes, maxFrameBytes)),
        close: () => socket.close(),
      };
    }
    return {
      send: (frame: ToSecondary) => outgoing.push(encodeFrame(frame, maxFrameBytes)),
      replies: decoded({ [Symbol.asyncIterator]: () => frames }, (bytes) =>
        decodeToPrimary(bytes, maxFrameBytes),
      ),
      close: (reason: Error) => {
        outgoing.end();
        stream.abort(reason);
      },
    };
  }

  /** The secondary's side: a link from the primary the master named, for a disk attached here. */
  private async serveLink(stream: FrameStream, from: NodeId): Promise<void> {
    const frames = stream.frames[Symbol.asyncIterator]();
    const first = await frames.next();
    if (first.done) return;
    const hello = decodeFrame(first.value, mirrorHelloSchema, HELLO_FRAME_BYTES);
    const entry = this.attached.get(hello.disk);
    if (entry?.secondary === undefined || entry.instance.uuid !== hello.instance || entry.peer !== from)
      throw new CorralError(
        'conflict',
        `this node holds no secondary copy of disk ${hello.disk} mirrored from ${from}`,
      );
    if (hello.sizeBytes !== entry.store.sizeBytes)
      throw new CorralError(
        'conflict',
        `the primary's copy has ${hello.sizeBytes} bytes and this one ${entry.store.sizeBytes}; grow both alike`,
      );
    const { maxFrameBytes } = mirrorStream;
    const outgoing = pushable<Uint8Array>();
    const { dataPlane } = this.deps;
    if (dataPlane !== undefined) {
      const { offer, connection } = dataPlane.offer();
      outgoing.push(encodeFrame({ accepted: true, data: offer }, HELLO_FRAME_BYTES));
      const sending = stream.send(outgoing).catch(() => undefined);
      const socket = await connection.finally(() => outgoing.end());
      await sending;
      await entry.secondary.serve({
        frames: decoded(socket.frames, (bytes) => decodeToSecondary(bytes, maxFrameBytes)),
        reply: (frame: ToPrimary) => {
          const { head, payload } = encodeToPrimary(frame, maxFrameBytes);
          socket.send(head, payload);
        },
        end: () => socket.close(),
      });
      socket.close();
      return;
    }
    outgoing.push(encodeFrame({ accepted: true }, HELLO_FRAME_BYTES));
    const sending = stream.send(outgoing).catch(() => undefined);
    await entry.secondary.serve({
      frames: decoded({ [Symbol.asyncIterator]: () => frames }, (bytes) =>
        decodeToSecondary(bytes, maxFrameBytes),
      ),
      reply: (frame: ToPrimary) => outgoing.push(encodeFrame(frame, maxFrameBytes)),
      end: () => stream.abort(new CorralError('closed', 'a newer link from the primary took over')),
    });
    outgoing.end();
    await sending;
  }

  /**
   * The NBD view of a disk, looked up at every request, so that a connection outlives a change of role (a
   * migration target's QEMU connects while its copy is the secondary, and runs once it is the primary): the
   * primary's engine serves it; a secondary's copy reads, and refuses writes; a detached disk fails.
   */
  diskExport(diskUuid: string): NbdExport | undefined {
    const first = this.attached.get(diskUuid);
    if (first === undefined) return undefined;
    const current = (): Attached => {
      const entry = this.attached.get(diskUuid);
      if (entry === undefined) throw new CorralError('closed', 'the disk is no longer attached on this node');
      return entry;
    };
    const writable = (): MirrorPrimary => {
      const { primary } = current();
      if (primary === undefined)
        throw new CorralError(
          'conflict',
          'this copy is the secondary: it takes writes from its primary only',
        );
      return primary;
    };
    return {
      sizeBytes: first.store.sizeBytes,
      read: (offset, length) => {
        const entry = current();
        return entry.primary?.read(offset, length) ?? entry.store.read(offset, length);
      },
      write: (offset, data, fua) => writable().write(offset, data, fua),
      writeZeroes: (offset, length, fua) => writable().writeZeroes(offset, length, fua),
      flush: async () => {
        await current().primary?.flush();
      },
    };
  }
}

async function* decoded<T>(
  frames: AsyncIterable<Uint8Array>,
  decode: (bytes: Uint8Array) => T,
): AsyncIterable<T> {
  for await (const bytes of frames) yield decode(bytes);
}
