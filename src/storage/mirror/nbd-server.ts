import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { CorralError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { SocketReader } from './socket-reader.js';

/**
 * A small NBD server (fixed newstyle handshake, simple replies) on a unix socket, through which QEMU reaches
 * the mirrored disks of this node. Only local root may connect: the socket is 0600 in the daemon's 0700
 * directory. Requests run concurrently and are answered as they finish, as the protocol allows.
 */

/** One disk as NBD serves it; writes a role cannot take are refused with an error code the guest sees. */
export interface NbdExport {
  readonly sizeBytes: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array, fua: boolean): Promise<void>;
  writeZeroes(offset: number, length: number, fua: boolean): Promise<void>;
  flush(): Promise<void>;
}

const NBDMAGIC = 0x4e42444d41474943n;
const IHAVEOPT = 0x49484156454f5054n;
const OPT_REPLY_MAGIC = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;

const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;

const OPT_EXPORT_NAME = 1;
const OPT_ABORT = 2;
const OPT_INFO = 6;
const OPT_GO = 7;

const REP_ACK = 1;
const REP_INFO = 3;
const REP_ERR_UNSUP = 0x80000001;
const REP_ERR_INVALID = 0x80000003;
const REP_ERR_UNKNOWN = 0x80000006;

const INFO_EXPORT = 0;
const INFO_BLOCK_SIZE = 3;

const TRANSMIT_FLAGS = 1 /* has flags */ | 4 /* flush */ | 8 /* fua */ | 64; /* write zeroes */

const CMD_READ = 0;
const CMD_WRITE = 1;
const CMD_DISC = 2;
const CMD_FLUSH = 3;
const CMD_WRITE_ZEROES = 6;
const CMD_FLAG_FUA = 1;

const EPERM = 1;
const EIO = 5;
const EINVAL = 22;
const ENOTSUP = 95;
const ESHUTDOWN = 108;

/** The largest request we take; advertised to the client, which splits larger I/O. */
export const NBD_MAX_REQUEST_BYTES = 1024 * 1024;
/** Requests of one connection being served at once; the client waits for answers beyond that. */
const MAX_IN_FLIGHT = 64;
const MAX_OPTION_BYTES = 4096;

export interface NbdServer {
  readonly path: string;
  close(): Promise<void>;
}

/** Serves the exports `find` names on a unix socket at `path` (replacing a stale socket file). */
export async function serveNbd(
  path: string,
  find: (name: string) => NbdExport | undefined,
  log: Logger,
): Promise<NbdServer> {
  await rm(path, { force: true });
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay?.(true);
    void serveConnection(socket, find).catch((error: Error) => {
      log.debug({ reason: error.message }, 'NBD connection ended');
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  return {
    path,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function serveConnection(socket: Socket, find: (name: string) => NbdExport | undefined): Promise<void> {
  const reader = new SocketReader(socket);
  const greeting = Buffer.alloc(18);
  greeting.writeBigUInt64BE(NBDMAGIC, 0);
  greeting.writeBigUInt64BE(IHAVEOPT, 8);
  greeting.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
  socket.write(greeting);
  const clientFlags = (await reader.read(4)).readUInt32BE(0);
  if ((clientFlags & FLAG_FIXED_NEWSTYLE) === 0) throw new CorralError('bad_request', 'old-style NBD client');
  const chosen = await negotiate(socket, reader, find, (clientFlags & FLAG_NO_ZEROES) !== 0);
  if (chosen !== undefined) await transmit(socket, reader, chosen);
}

function optionReply(socket: Socket, option: number, type: number, data: Buffer = Buffer.alloc(0)): void {
  const header = Buffer.alloc(20);
  header.writeBigUInt64BE(OPT_REPLY_MAGIC, 0);
  header.writeUInt32BE(option, 8);
  header.writeUInt32BE(type, 12);
  header.writeUInt32BE(data.byteLength, 16);
  socket.write(Buffer.concat([header, data]));
}

/** The option haggling; resolves to the export chosen, or undefined when the client aborts. */
async function negotiate(
  socket: Socket,
  reader: SocketReader,
  find: (name: string) => NbdExport | undefined,
  noZeroes: boolean,
): Promise<NbdExport | undefined> {
  for (;;) {
    const header = await reader.read(16);
    if (header.readBigUInt64BE(0) !== IHAVEOPT) throw new CorralError('bad_request', 'bad NBD option magic');
    const option = header.readUInt32BE(8);
    const length = header.readUInt32BE(12);
    if (length > MAX_OPTION_BYTES) throw new CorralError('bad_request', `NBD option of ${length} bytes`);
    const data = await reader.read(length);
    if (option === OPT_EXPORT_NAME) {
      const found = find(data.toString('utf8'));
      if (found === undefined) throw new CorralError('not_found', 'no such NBD export');
      const reply = Buffer.alloc(noZeroes ? 10 : 134);
      reply.writeBigUInt64BE(BigInt(found.sizeBytes), 0);
      reply.writeUInt16BE(TRANSMIT_FLAGS, 8);
      socket.write(reply);
      return found;
    }
    if (option === OPT_ABORT) {
      optionReply(socket, option, REP_ACK);
      socket.end();
      return undefined;
    }
    if (option !== OPT_INFO && option !== OPT_GO) {
      optionReply(socket, option, REP_ERR_UNSUP);
      continue;
    }
    if (length < 6 || data.readUInt32BE(0) + 6 > length) {
      optionReply(socket, option, REP_ERR_INVALID);
      continue;
    }
    const found = find(data.subarray(4, 4 + data.readUInt32BE(0)).toString('utf8'));
    if (found === undefined) {
      optionReply(socket, option, REP_ERR_UNKNOWN);
      continue;
    }
    const exportInfo = Buffer.alloc(12);
    exportInfo.writeUInt16BE(INFO_EXPORT, 0);
    exportInfo.writeBigUInt64BE(BigInt(found.sizeBytes), 2);
    exportInfo.writeUInt16BE(TRANSMIT_FLAGS, 10);
    optionReply(socket, option, REP_INFO, exportInfo);
    const blockInfo = Buffer.alloc(14);
    blockInfo.writeUInt16BE(INFO_BLOCK_SIZE, 0);
    blockInfo.writeUInt32BE(1, 2);
    blockInfo.writeUInt32BE(4096, 6);
    blockInfo.writeUInt32BE(NBD_MAX_REQUEST_BYTES, 10);
    optionReply(socket, option, REP_INFO, blockInfo);
    optionReply(socket, option, REP_ACK);
    if (option === OPT_GO) return found;
  }
}

/** Serves requests until the client disconnects; each is answered when it finishes, in any order. */
async function transmit(socket: Socket, reader: SocketReader, disk: NbdExport): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for (;;) {
    const header = await reader.read(28);
    if (header.readUInt32BE(0) !== REQUEST_MAGIC)
      throw new CorralError('bad_request', 'bad NBD request magic');
    const flags = header.readUInt16BE(4);
    const type = header.readUInt16BE(6);
    const handle = header.subarray(8, 16);
    const offset = Number(header.readBigUInt64BE(16));
    const length = header.readUInt32BE(24);
    if (type === CMD_DISC) break;
    const payload = type === CMD_WRITE ? await reader.read(length) : undefined;
    const work = answer(socket, handle, disk, { type, flags, offset, length, payload }).finally(() =>
      inFlight.delete(work),
    );
    inFlight.add(work);
    if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  socket.end();
}

interface NbdRequest {
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  readonly length: number;
  readonly payload: Buffer | undefined;
}

async function answer(socket: Socket, handle: Buffer, disk: NbdExport, request: NbdRequest): Promise<void> {
  let error = 0;
  let data: Uint8Array | undefined;
  const fua = (request.flags & CMD_FLAG_FUA) !== 0;
  if (request.length > NBD_MAX_REQUEST_BYTES || request.offset + request.length > disk.sizeBytes)
    error = EINVAL;
  else {
    try {
      switch (request.type) {
        case CMD_READ:
          data = await disk.read(request.offset, request.length);
          break;
        case CMD_WRITE:
          await disk.write(request.offset, request.payload!, fua);
          break;
        case CMD_FLUSH:
          await disk.flush();
          break;
        case CMD_WRITE_ZEROES:
          await disk.writeZeroes(request.offset, request.length, fua);
          break;
        default:
          error = ENOTSUP;
      }
    } catch (failure) {
      error = errnoOf(failure);
    }
  }
  const reply = Buffer.alloc(16);
  reply.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  reply.writeUInt32BE(error, 4);
  handle.copy(reply, 8);
  if (socket.destroyed) return;
  socket.write(error === 0 && data !== undefined ? Buffer.concat([reply, data]) : reply);
}

/** What the guest sees of a failure: a refused write is EPERM, a detached disk ESHUTDOWN, the rest EIO. */
function errnoOf(failure: unknown): number {
  if (!(failure instanceof CorralError)) return EIO;
  if (failure.code === 'conflict') return EPERM;
  if (failure.code === 'closed') return ESHUTDOWN;
  if (failure.code === 'bad_request') return EINVAL;
  return EIO;
}
