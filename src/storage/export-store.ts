import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurably } from '../common/durable-file.js';
import { CorralError } from '../common/errors.js';

/**
 * A node's instance exports (gnt-backup), one directory per instance under the export dir, as Ganeti keeps
 * them under /var/lib/ganeti/export: a config.ini and one dump per disk. An export is written into
 * `<name>~new` and renamed into place once complete, so that a reader never sees half of one and a failed
 * export leaves the previous one intact.
 */

/** Not allowed in instance names, so that no instance's export can be mistaken for these. */
const STAGING_SUFFIX = '~new';
const REPLACED_SUFFIX = '~old';
const INFO_FILE = 'config.ini';
/** Instance names are host names; nothing else may name a directory here. */
const EXPORT_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,252})$/;
const DUMP_FILE = /^[\w+-][\w.+-]{0,127}$/;
const INFO_BYTES_MAX = 64 * 1024;

export interface ExportEntry {
  readonly name: string;
  /** The config.ini, when the listing asked for one export by name. */
  readonly info?: string;
}

function checkName(name: string): string {
  if (!EXPORT_NAME.test(name))
    throw new CorralError('bad_request', `${JSON.stringify(name)} is not an instance name`);
  return name;
}

function checkDumpFile(file: string): string {
  if (!DUMP_FILE.test(file) || file === INFO_FILE)
    throw new CorralError('bad_request', `${JSON.stringify(file)} is not the name of a disk dump`);
  return file;
}

/** A chunk of a dump: its bytes, or, for a run of zeros, their count (kept as a hole in the file). */
export type DumpPiece = { readonly data: Uint8Array } | { readonly zeros: number };

const pieceBytes = (piece: DumpPiece): number => ('zeros' in piece ? piece.zeros : piece.data.byteLength);

export interface ExportStore {
  readonly dir: string;
  /** Complete exports; with a name, only that one, with its config.ini. */
  list(name?: string): Promise<ExportEntry[]>;
  /** Writes a chunk of a dump into the export being made; offset 0 starts the file afresh. */
  writeDump(name: string, file: string, offset: number, piece: DumpPiece): Promise<void>;
  /** Writes the config.ini and puts the export in place of any older one of that name. */
  finalize(name: string, info: string): Promise<void>;
  /** Drops the export being made. */
  abort(name: string): Promise<void>;
  /** Removes a complete export; false when there was none. */
  remove(name: string): Promise<boolean>;
  /** Reads up to `length` bytes of a complete export's dump. */
  readDump(
    name: string,
    file: string,
    offset: number,
    length: number,
  ): Promise<{ data: Uint8Array; eof: boolean }>;
}

export function createExportStore(dir: string): ExportStore {
  const final = (name: string) => join(dir, checkName(name));
  const staging = (name: string) => `${final(name)}${STAGING_SUFFIX}`;

  async function isDir(path: string): Promise<boolean> {
    try {
      return (await stat(path)).isDirectory();
    } catch {
      return false;
    }
  }

  return {
    dir,

    async list(name) {
      if (name !== undefined) {
        const path = join(final(name), INFO_FILE);
        let info: string;
        try {
          info = await readFile(path, 'utf8');
        } catch {
          return [];
        }
        return [{ name, info: info.slice(0, INFO_BYTES_MAX) }];
      }
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      return entries
        .filter((e) => e.isDirectory() && EXPORT_NAME.test(e.name))
        .map((e) => ({ name: e.name }))
        .sort((a, b) => a.name.localeCompare(b.name));
    },

    async writeDump(name, file, offset, piece) {
      const path = join(staging(name), checkDumpFile(file));
      if (offset === 0) await mkdir(staging(name), { recursive: true, mode: 0o700 });
      const handle = await open(path, offset === 0 ? 'w' : 'r+', 0o600).catch(
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT')
            throw new CorralError(
              'conflict',
              `no export of ${name} is being written here (${file} at ${offset})`,
            );
          throw error;
        },
      );
      try {
        if ((await handle.stat()).size !== offset)
          throw new CorralError(
            'conflict',
            `${file} of the export of ${name} is not ${offset} bytes long: chunk out of order`,
          );
        // Zeros only lengthen the file: a dump of a sparse disk stays sparse.
        if ('zeros' in piece) await handle.truncate(offset + piece.zeros);
        else await handle.write(piece.data, 0, piece.data.byteLength, offset);
      } finally {
        await handle.close();
      }
    },

    async finalize(name, info) {
      if (Buffer.byteLength(info) > INFO_BYTES_MAX)
        throw new CorralError('bad_request', `the config.ini of ${name} is over ${INFO_BYTES_MAX} bytes`);
      const made = staging(name);
      if (!(await isDir(made))) await mkdir(made, { recursive: true, mode: 0o700 });
      // The dumps were written without fsync, chunk by chunk: sync them once, now.
      for (const file of await readdir(made)) {
        const handle = await open(join(made, file), 'r');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
      await writeFileDurably(join(made, INFO_FILE), Buffer.from(info));
      const old = `${final(name)}${REPLACED_SUFFIX}`;
      await rm(old, { recursive: true, force: true });
      if (await isDir(final(name))) await rename(final(name), old);
      await rename(made, final(name));
      await rm(old, { recursive: true, force: true });
    },

    async abort(name) {
      await rm(staging(name), { recursive: true, force: true });
    },

    async remove(name) {
      const path = final(name);
      if (!(await isDir(path))) return false;
      await rm(path, { recursive: true, force: true });
      return true;
    },

    async readDump(name, file, offset, length) {
      const handle = await open(join(final(name), checkDumpFile(file)), 'r').catch(
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT')
            throw new CorralError('not_found', `there is no ${file} in the export of ${name} on this node`);
          throw error;
        },
      );
      try {
        const buffer = new Uint8Array(length);
        const { bytesRead } = await handle.read(buffer, 0, length, offset);
        return { data: buffer.subarray(0, bytesRead), eof: bytesRead < length };
      } finally {
        await handle.close();
      }
    },
  };
}

interface MemoryExport {
  readonly dumps: Map<string, Uint8Array>;
  info?: string;
}

/**
 * The same store in memory, for the simulator: the same names are refused, chunks must come in order, and an
 * export is visible only once finalized, replacing any older one whole.
 */
export function createMemoryExportStore(): ExportStore {
  const complete = new Map<string, MemoryExport>();
  const staging = new Map<string, MemoryExport>();
  const exportOf = (name: string) => {
    const found = complete.get(checkName(name));
    if (found === undefined) throw new CorralError('not_found', `there is no export of ${name} on this node`);
    return found;
  };
  return {
    dir: '/memory/export',
    async list(name) {
      if (name !== undefined) {
        const found = complete.get(checkName(name));
        return found === undefined ? [] : [{ name, info: found.info ?? '' }];
      }
      return [...complete.keys()].sort((a, b) => a.localeCompare(b)).map((entry) => ({ name: entry }));
    },
    async writeDump(name, file, offset, piece) {
      checkDumpFile(file);
      if (offset === 0 && !staging.has(checkName(name))) staging.set(name, { dumps: new Map() });
      const made = staging.get(name);
      const current = made?.dumps.get(file) ?? (offset === 0 ? new Uint8Array(0) : undefined);
      if (made === undefined || current === undefined)
        throw new CorralError(
          'conflict',
          `no export of ${name} is being written here (${file} at ${offset})`,
        );
      if (current.byteLength !== offset)
        throw new CorralError(
          'conflict',
          `${file} of the export of ${name} is not ${offset} bytes long: chunk out of order`,
        );
      const grown = new Uint8Array(offset + pieceBytes(piece));
      grown.set(current);
      if ('data' in piece) grown.set(piece.data, offset);
      made.dumps.set(file, grown);
    },
    async finalize(name, info) {
      if (Buffer.byteLength(info) > INFO_BYTES_MAX)
        throw new CorralError('bad_request', `the config.ini of ${name} is over ${INFO_BYTES_MAX} bytes`);
      const made = staging.get(checkName(name)) ?? { dumps: new Map() };
      staging.delete(name);
      complete.set(name, { ...made, info });
    },
    async abort(name) {
      staging.delete(checkName(name));
    },
    async remove(name) {
      return complete.delete(checkName(name));
    },
    async readDump(name, file, offset, length) {
      const dump = exportOf(name).dumps.get(checkDumpFile(file));
      if (dump === undefined)
        throw new CorralError('not_found', `there is no ${file} in the export of ${name} on this node`);
      const data = dump.slice(offset, offset + length);
      return { data, eof: data.byteLength < length };
    },
  };
}
