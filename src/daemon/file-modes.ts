import { chmod, mkdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CorralError } from '../common/errors.js';
import type { HealthRecord } from '../membership/health.js';
import { MEMBERS_FILE } from '../membership/member-store.js';
import { ENROLMENT_FILE } from '../peer/enrolment.js';
import { IDENTITY_FILE } from '../peer/identity.js';

/** Files of the data dir that hold secrets: the node's private key, the cluster secret, the enrolment code. */
export const SECRET_FILES: readonly string[] = [IDENTITY_FILE, MEMBERS_FILE, ENROLMENT_FILE];

/**
 * What is guarded and the mode it must have: secrets and the control socket are for the daemon's user alone
 * (only the owner may connect to a unix socket it cannot write, so 0600 is all the socket needs).
 */
export type Guarded = 'secret' | 'socket' | 'data dir';
const wantedModes: Readonly<Record<Guarded, number>> = { secret: 0o600, socket: 0o600, 'data dir': 0o700 };
/** The bits that give group or others a way in: read or write for files and sockets, anything on the dir. */
const looseBits: Readonly<Record<Guarded, number>> = { secret: 0o066, socket: 0o066, 'data dir': 0o077 };

/** As much of a stat result as the check reads. */
export interface FileFacts {
  readonly mode: number;
  readonly uid: number;
}

/** A file whose mode or owner lets someone other than the daemon's user in, and what puts it right. */
export interface UnsafeFile {
  readonly path: string;
  readonly guarded: Guarded;
  /** The permission bits it has. */
  readonly mode: number;
  readonly uid: number;
  /** The mode it must have, and the user that must own it (the daemon's). */
  readonly wantMode: number;
  readonly wantUid: number;
}

/** The pure core: undefined when the file is safe, else what is wrong with it. */
export function unsafeFile(
  path: string,
  guarded: Guarded,
  facts: FileFacts,
  daemonUid: number,
): UnsafeFile | undefined {
  const mode = facts.mode & 0o777;
  if (facts.uid === daemonUid && (mode & looseBits[guarded]) === 0) return undefined;
  return { path, guarded, mode, uid: facts.uid, wantMode: wantedModes[guarded], wantUid: daemonUid };
}

/** One line naming the file, what is wrong and the command that fixes it. */
export function describeUnsafe(file: UnsafeFile): string {
  if (file.uid !== file.wantUid)
    return `${file.path} is owned by uid ${file.uid}, not by the daemon's user (uid ${file.wantUid}): chown ${file.wantUid} ${file.path}`;
  return `${file.path} is open to group or others (mode ${octal(file.mode)}): chmod ${file.wantMode.toString(8)} ${file.path}`;
}

/** How the node reports a file in its health record, for cluster verify on the master: by a short name. */
export function healthReport(file: UnsafeFile): NonNullable<HealthRecord['unsafeFiles']>[number] {
  const name =
    file.guarded === 'secret'
      ? basename(file.path)
      : file.guarded === 'socket'
        ? 'control socket'
        : 'data dir';
  return { name, mode: file.mode, uid: file.uid, wantMode: file.wantMode, wantUid: file.wantUid };
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

/** The user the daemon runs as, who must own its data dir and secrets. */
export function daemonUid(): number {
  return process.getuid?.() ?? 0;
}

/**
 * Creates the data dir 0700, or makes an existing one 0700; returns the mode it had when that was looser, for
 * the caller to log. A loose dir is fixed rather than refused: it holds nothing secret itself (each secret
 * file is checked on its own, and refused when loose, since it may have been read already), and tightening
 * it takes nothing from anyone entitled: only the daemon's user has business in it. A dir owned by another
 * user is refused: that user could swap any file in it, and chmod cannot undo that.
 */
export async function secureDataDir(dataDir: string, uid: number): Promise<number | undefined> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const found = unsafeFile(dataDir, 'data dir', await stat(dataDir), uid);
  if (found === undefined) return undefined;
  if (found.uid !== uid) throw refusal(found);
  await chmod(dataDir, 0o700);
  return found.mode;
}

/** Refuses to go on, with one line that names the file and the fix, when a secret file is not the daemon's alone. */
export async function checkSecretFiles(dataDir: string, uid: number): Promise<void> {
  for (const name of SECRET_FILES) {
    const path = join(dataDir, name);
    const facts = await statIfExists(path);
    const found = facts === undefined ? undefined : unsafeFile(path, 'secret', facts, uid);
    if (found !== undefined) throw refusal(found);
  }
}

/** Every guarded file that is unsafe now (a missing one is not: it is made 0600 when it is first written). */
export async function findUnsafeFiles(
  paths: { readonly dataDir: string; readonly socket: string },
  uid: number,
): Promise<UnsafeFile[]> {
  const guarded: [string, Guarded][] = [
    [paths.dataDir, 'data dir'],
    ...SECRET_FILES.map((name): [string, Guarded] => [join(paths.dataDir, name), 'secret']),
    [paths.socket, 'socket'],
  ];
  const found: UnsafeFile[] = [];
  for (const [path, kind] of guarded) {
    const facts = await statIfExists(path);
    const unsafe = facts === undefined ? undefined : unsafeFile(path, kind, facts, uid);
    if (unsafe !== undefined) found.push(unsafe);
  }
  return found;
}

function refusal(file: UnsafeFile): CorralError {
  return new CorralError('conflict', `refusing to start: ${describeUnsafe(file)}`);
}

async function statIfExists(path: string): Promise<FileFacts | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
