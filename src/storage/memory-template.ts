import { type CorralDiskTemplate, diskTemplateTraits } from '../cluster/disk-templates.js';
import { CorralError } from '../common/errors.js';
import type { DiskRef, DiskTemplate } from './disk-template.js';
import type { BlockStore } from './mirror/block-store.js';

const MIB = 1024 * 1024;
/** Chunks a read yields, as the file templates' reads do. */
const CHUNK_BYTES = MIB;
const ZEROS = new Uint8Array(CHUNK_BYTES);

interface MemoryDisk {
  sizeMiB: number;
  /** What was written; bytes past it (up to the size) read as zeros, as in a sparse file. */
  data: Uint8Array;
}

/**
 * The storage behind in-memory disk templates: one per node for a node-local template, one shared by every
 * node of a simulated cluster for a shared one (as sharedfile's directory is the same on every node).
 */
export class MemoryStorage {
  readonly disks = new Map<string, MemoryDisk>();

  constructor(readonly capacityMiB: number) {}

  usedMiB(): number {
    let used = 0;
    for (const disk of this.disks.values()) used += disk.sizeMiB;
    return used;
  }
}

const memoryDiskKey = (disk: DiskRef) => `${disk.instanceUuid}/${disk.diskUuid}`;

/**
 * The copy of a disk held in memory as a mirror engine's block store: the simulator's drbd copies. Writes
 * count as durable, as a daemon's crash keeps what reached the host's page cache.
 */
export function memoryBlockStore(storage: MemoryStorage, disk: DiskRef): BlockStore {
  const found = storage.disks.get(memoryDiskKey(disk));
  if (found === undefined)
    throw new CorralError(
      'not_found',
      `disk ${disk.index} of ${disk.instanceName} does not exist on this node`,
    );
  const sizeBytes = found.sizeMiB * MIB;
  const whole = () => {
    if (found.data.byteLength < sizeBytes) {
      const data = new Uint8Array(sizeBytes);
      data.set(found.data);
      found.data = data;
    }
    return found.data;
  };
  return {
    sizeBytes,
    read: async (offset, length) => whole().slice(offset, offset + length),
    write: async (offset, data) => whole().set(data, offset),
    writeDurably: async (offset, data) => whole().set(data, offset),
    writeZeroes: async (offset, length) => void whole().fill(0, offset, offset + length),
    flush: async () => undefined,
    close: async () => undefined,
  };
}

/**
 * A disk template whose disks live in memory: the simulator's stand-in for file and sharedfile, with the same
 * rules (idempotent create, grow never shrinks, a copy cut short is refused). Disks hold raw bytes; a qcow2
 * disk's bytes are kept as given, so a copy of one cannot be checked for completeness here.
 */
export function createMemoryTemplate(init: {
  readonly name: CorralDiskTemplate;
  readonly storage: MemoryStorage;
}): DiskTemplate {
  const { name, storage } = init;
  const key = memoryDiskKey;
  const label = (disk: DiskRef) => `disk ${disk.index} of ${disk.instanceName}`;
  const find = (disk: DiskRef): MemoryDisk => {
    const found = storage.disks.get(key(disk));
    if (found === undefined) throw new CorralError('not_found', `${label(disk)} does not exist on this node`);
    return found;
  };
  const reserve = (disk: DiskRef, moreMiB: number) => {
    const freeMiB = storage.capacityMiB - storage.usedMiB();
    if (moreMiB > freeMiB)
      throw new CorralError(
        'conflict',
        `not enough ${name} storage for ${label(disk)}: it needs ${moreMiB} MiB, ${freeMiB} MiB free`,
      );
  };

  const template: DiskTemplate = {
    name,
    shared: diskTemplateTraits[name].sharedStorage,
    async availability() {
      return { available: true };
    },
    async create(disk) {
      const existing = storage.disks.get(key(disk));
      if (existing !== undefined) {
        if (existing.sizeMiB === disk.sizeMiB) return;
        throw new CorralError(
          'conflict',
          `${label(disk)} already exists with ${existing.sizeMiB} MiB, not ${disk.sizeMiB} MiB`,
        );
      }
      reserve(disk, disk.sizeMiB);
      storage.disks.set(key(disk), { sizeMiB: disk.sizeMiB, data: new Uint8Array(0) });
    },
    async remove(disk) {
      storage.disks.delete(key(disk));
    },
    path(disk) {
      return `/memory/${name}/${key(disk)}`;
    },
    async exists(disk) {
      return storage.disks.has(key(disk));
    },
    async sizeMiB(disk) {
      return storage.disks.get(key(disk))?.sizeMiB;
    },
    async grow(disk, newSizeMiB) {
      const found = find(disk);
      if (newSizeMiB === found.sizeMiB) return;
      if (newSizeMiB < found.sizeMiB)
        throw new CorralError(
          'bad_request',
          `${label(disk)} holds ${found.sizeMiB} MiB and cannot shrink to ${newSizeMiB} MiB; disks only grow`,
        );
      reserve(disk, newSizeMiB - found.sizeMiB);
      found.sizeMiB = newSizeMiB;
    },
    async *read(disk, offsetBytes = 0) {
      const found = find(disk);
      const end = Math.max(found.sizeMiB * MIB, found.data.byteLength);
      for (let position = offsetBytes; position < end; position += CHUNK_BYTES) {
        const length = Math.min(CHUNK_BYTES, end - position);
        const written = found.data.subarray(position, position + length);
        if (written.byteLength === length) yield written;
        else if (written.byteLength === 0 && length === CHUNK_BYTES) yield ZEROS;
        else {
          const chunk = new Uint8Array(length);
          chunk.set(written);
          yield chunk;
        }
      }
    },
    async write(disk, source) {
      const parts: Uint8Array[] = [];
      let bytes = 0;
      const limit = disk.sizeMiB * MIB;
      for await (const chunk of source) {
        bytes += chunk.byteLength;
        if (disk.format === 'raw' && bytes > limit)
          throw new CorralError(
            'bad_request',
            `the copy of ${label(disk)} holds more than its ${disk.sizeMiB} MiB`,
          );
        parts.push(chunk.slice());
      }
      if (disk.format === 'raw' && bytes < limit)
        throw new CorralError(
          'bad_request',
          `the copy of ${label(disk)} was cut short: ${bytes} of ${limit} bytes`,
        );
      const existing = storage.disks.get(key(disk));
      reserve(disk, disk.sizeMiB - (existing?.sizeMiB ?? 0));
      const data = new Uint8Array(bytes);
      let offset = 0;
      for (const part of parts) {
        data.set(part, offset);
        offset += part.byteLength;
      }
      storage.disks.set(key(disk), { sizeMiB: disk.sizeMiB, data });
    },
    async space() {
      return { totalMiB: storage.capacityMiB, freeMiB: storage.capacityMiB - storage.usedMiB() };
    },
    async repair() {
      return `${name} storage in memory has no missing devices`;
    },
  };
  return template;
}
