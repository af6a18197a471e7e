import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { type AgentDisk, agentDiskSchema } from '../cluster/agent-protocols.js';
import { writeFileDurably } from '../common/durable-file.js';
import {
  type ActivityLogFile,
  activityLogFile,
  MemoryActivityLogFile,
} from '../storage/mirror/activity-log.js';
import type { CopyState } from '../storage/mirror/secondary.js';

/** One disk attached on this node when the daemon last recorded them. */
export interface SavedDisk {
  readonly instance: { readonly name: string; readonly uuid: string };
  readonly disk: AgentDisk;
  readonly role: 'primary' | 'secondary';
  readonly peer: string;
  readonly peerHost: string;
  readonly generation: number;
  /** A primary had nothing owed to its peer: no dirty granule, and a link up. */
  readonly inSync: boolean;
}

/** The disks attached on this node, as a restarted daemon finds them. */
export interface SavedAttachments {
  /** Whether the daemon stopped cleanly, its last writes flushed to both copies. */
  readonly clean: boolean;
  readonly disks: readonly SavedDisk[];
}

/** What each copy on this node records of its own state, and which disks are attached, kept across restarts. */
export interface CopyRecords {
  read(diskUuid: string): Promise<CopyState | undefined>;
  write(diskUuid: string, state: CopyState): Promise<void>;
  forget(diskUuid: string): Promise<void>;
  /**
   * The activity log of this node's copy of a disk while it is the primary (beside its state record); none
   * where the records keep no logs, and a crashed primary then compares its whole disk with the peer.
   */
  activityLog?(diskUuid: string): ActivityLogFile;
  readAttachments(): Promise<SavedAttachments | undefined>;
  writeAttachments(saved: SavedAttachments): Promise<void>;
}

const savedAttachmentsSchema = z.object({
  clean: z.boolean(),
  disks: z.array(
    z.object({
      instance: z.object({ name: z.string(), uuid: z.string() }),
      disk: agentDiskSchema,
      role: z.enum(['primary', 'secondary']),
      peer: z.string(),
      peerHost: z.string(),
      generation: z.number().int().nonnegative(),
      inSync: z.boolean(),
    }),
  ),
});

/** Copy records as small files in a directory of the daemon's. */
export function copyRecordsInDir(dir: string): CopyRecords {
  const path = (name: string) => join(dir, name);
  const readJson = async (name: string): Promise<unknown> => {
    try {
      return JSON.parse(await readFile(path(name), 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  };
  const writeJson = async (name: string, value: unknown) => {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileDurably(path(name), Buffer.from(JSON.stringify(value)));
  };
  return {
    async read(diskUuid) {
      const saved = copyStateSchema.safeParse(await readJson(`${diskUuid}.state`));
      return saved.success ? saved.data : undefined;
    },
    write: (diskUuid, state) => writeJson(`${diskUuid}.state`, state),
    async forget(diskUuid) {
      await rm(path(`${diskUuid}.state`), { force: true });
      await rm(path(`${diskUuid}.al`), { force: true });
    },
    activityLog: (diskUuid) => activityLogFile(path(`${diskUuid}.al`)),
    async readAttachments() {
      const saved = savedAttachmentsSchema.safeParse(await readJson('attached.json'));
      return saved.success ? saved.data : undefined;
    },
    writeAttachments: (saved) => writeJson('attached.json', saved),
  };
}

const copyStateSchema = z.object({ generation: z.number().int().nonnegative(), consistent: z.boolean() });

/**
 * Copy records kept in memory: the simulator's, where a node's disk outlives its daemon in these maps. With
 * `logs`, they keep activity logs there too; without, a crashed primary compares its whole disk.
 */
export function copyRecordsInMemory(
  saved = new Map<string, CopyState>(),
  attachments: { value?: SavedAttachments } = {},
  logs?: Map<string, MemoryActivityLogFile>,
): CopyRecords {
  return {
    read: async (diskUuid) => saved.get(diskUuid),
    write: async (diskUuid, state) => void saved.set(diskUuid, state),
    forget: async (diskUuid) => {
      saved.delete(diskUuid);
      logs?.delete(diskUuid);
    },
    ...(logs !== undefined && {
      activityLog: (diskUuid: string) => {
        const file = logs.get(diskUuid) ?? new MemoryActivityLogFile();
        logs.set(diskUuid, file);
        return file;
      },
    }),
    readAttachments: async () => attachments.value,
    writeAttachments: async (value) => {
      attachments.value = value;
    },
  };
}
