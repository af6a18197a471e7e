import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { CorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { SocketReader } from '../storage/mirror/socket-reader.js';

/**
 * The mirror's data path between two nodes: TLS with a pre-shared key on a plain TCP connection, as DRBD
 * replicates over its own TCP link rather than through a general-purpose transport. The secondary hands
 * the primary a one-time identity and key over the libp2p stream (authenticated by peer ID, encrypted), and
 * accepts one connection that shows them, within a few seconds; anything else fails the handshake. The
 * measured round trip of a 4 KiB write is about a quarter of libp2p's here (notes/mirror.md).
 */

/**
 * What the secondary offers the primary: its data port, and the one-time credentials to show. The primary
 * connects to the secondary's address on the replication network (its secondary IP, from the config).
 */
export interface DataOffer {
  readonly port: number;
  readonly identity: string;
  readonly key: Uint8Array;
}

/** Length-prefixed frames on a socket. */
export interface FramedSocket {
  readonly frames: AsyncIterable<Uint8Array>;
  /** Sends one frame: `head`, then `payload` when given (a write's bytes, which are not copied here). */
  send(head: Uint8Array, payload?: Uint8Array): void;
  close(): void;
}

const CIPHERS = 'PSK-AES256-GCM-SHA384:PSK-AES128-GCM-SHA256';
/** Node's TLS supports pre-shared keys up to TLS 1.2. */
const TLS_VERSION = 'TLSv1.2';
const OFFER_TTL_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;

interface Pending {
  readonly key: Buffer;
  readonly resolve: (socket: FramedSocket) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** The secondary's listening side: one TLS-PSK server for all the disks mirrored to this node. */
export class DataPlaneServer {
  private readonly pending = new Map<string, Pending>();
  /** Which identity each connection showed, from its handshake to its first use. */
  private readonly shown = new WeakMap<object, string>();
  private server: Server | undefined;
  private port = 0;

  constructor(
    private readonly bindHost: string,
    private readonly maxFrameBytes: number,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const server = createServer({
      ciphers: CIPHERS,
      minVersion: TLS_VERSION,
      maxVersion: TLS_VERSION,
      pskCallback: (socket, identity) => {
        const pending = this.pending.get(identity);
        if (pending === undefined) return null;
        this.shown.set(socket, identity);
        return pending.key;
      },
    });
    server.on('secureConnection', (socket: TLSSocket) => this.accepted(socket));
    server.on('tlsClientError', (error) =>
      this.log.debug({ reason: error.message }, 'refused a mirror data connection'),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.bindHost, () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    this.server = server;
  }

  /** A one-time offer, and the connection that takes it up. */
  offer(): { readonly offer: DataOffer; readonly connection: Promise<FramedSocket> } {
    const identity = randomBytes(16).toString('hex');
    const key = randomBytes(32);
    const connection = new Promise<FramedSocket>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(identity);
        reject(new CorralError('timeout', 'the primary did not open its mirror data connection'));
      }, OFFER_TTL_MS);
      timer.unref();
      this.pending.set(identity, { key, resolve, reject, timer });
    });
    return { offer: { port: this.port, identity, key }, connection };
  }

  private accepted(socket: TLSSocket): void {
    const identity = this.shown.get(socket);
    const pending = identity === undefined ? undefined : this.pending.get(identity);
    if (identity === undefined || pending === undefined) {
      socket.destroy();
      return;
    }
    this.pending.delete(identity);
    clearTimeout(pending.timer);
    pending.resolve(framedSocket(socket, this.maxFrameBytes));
  }

  async stop(): Promise<void> {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new CorralError('closed', 'the node is stopping'));
    }
    this.pending.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The primary's side: takes up an offer. */
export async function connectDataPlane(
  host: string,
  offer: DataOffer,
  maxFrameBytes: number,
): Promise<FramedSocket> {
  const socket = connect({
    host,
    port: offer.port,
    ciphers: CIPHERS,
    minVersion: TLS_VERSION,
    maxVersion: TLS_VERSION,
    pskCallback: () => ({ psk: Buffer.from(offer.key), identity: offer.identity }),
    checkServerIdentity: () => undefined,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new CorralError('timeout', `the mirror peer's data port ${host}:${offer.port} did not answer`));
    }, CONNECT_TIMEOUT_MS);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new CorralError('unreachable', `cannot open the mirror data connection: ${error.message}`));
    });
  });
  return framedSocket(socket, maxFrameBytes);
}

/** Frames as a 4-byte big-endian length and the bytes; a frame over the cap breaks the connection. */
function framedSocket(socket: Socket, maxFrameBytes: number): FramedSocket {
  socket.setNoDelay(true);
  const reader = new SocketReader(socket);
  async function* frames(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const length = (await reader.read(4)).readUInt32BE(0);
      if (length > maxFrameBytes) {
        socket.destroy();
        throw new CorralError(
          'frame_too_large',
          `a mirror frame of ${length} bytes exceeds ${maxFrameBytes}`,
        );
      }
      yield await reader.read(length);
    }
  }
  return {
    frames: frames(),
    send(head, payload) {
      // The length and the head in one buffer; a payload after it in the same write (one TLS record).
      const prefixed = Buffer.allocUnsafe(4 + head.byteLength);
      prefixed.writeUInt32BE(head.byteLength + (payload?.byteLength ?? 0), 0);
      prefixed.set(head, 4);
      if (payload === undefined) {
        socket.write(prefixed);
        return;
      }
      socket.cork();
      socket.write(prefixed);
      socket.write(payload);
      socket.uncork();
    },
    close: () => socket.destroy(),
  };
}
