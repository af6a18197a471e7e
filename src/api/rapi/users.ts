import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';

/** What a RAPI user may do beyond anonymous reads: Ganeti's `read` and `write` options. */
export type UserOption = 'read' | 'write';

export interface RapiUser {
  readonly name: string;
  /** The stored password: cleartext, `{cleartext}…`, or `{HA1}` + md5(user:realm:password). */
  readonly password: string;
  readonly options: ReadonlySet<UserOption>;
}

export type RapiUsers = ReadonlyMap<string, RapiUser>;

/** Ganeti's fixed realm; `{HA1}` hashes include it, so it cannot change. */
export const RAPI_REALM = 'Ganeti Remote API';

/**
 * Parses Ganeti's users file: `<user> <password> [read,write]` per line, `#` comments and blank lines
 * skipped. Unknown options are ignored, as Ganeti does; a line without a password names no user.
 */
export function parseUsers(text: string): RapiUsers {
  const users = new Map<string, RapiUser>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [name, password, options] = line.split(/\s+/);
    if (name === undefined || password === undefined) continue;
    const granted = new Set<UserOption>();
    for (const option of (options ?? '').split(',')) {
      if (option === 'read' || option === 'write') granted.add(option);
    }
    users.set(name, { name, password, options: granted });
  }
  return users;
}

/** Checks a password against the stored form; an unknown `{scheme}` never matches. */
export function passwordMatches(user: RapiUser, given: string): boolean {
  const scheme = /^\{([^}]*)\}(.*)$/s.exec(user.password);
  if (scheme === null) return sameText(user.password, given);
  const [, name = '', stored = ''] = scheme;
  switch (name.toLowerCase()) {
    case 'cleartext':
      return sameText(stored, given);
    case 'ha1': {
      const digest = createHash('md5').update(`${user.name}:${RAPI_REALM}:${given}`).digest('hex');
      return sameText(stored.toLowerCase(), digest);
    }
    default:
      return false;
  }
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** How often the file's size and time are looked at; a change takes effect within this. */
const RECHECK_MS = 1_000;

/**
 * The users file, read again when it changes (Ganeti watches it with inotify; a stat at most once a second
 * does the same without a watcher per node). A missing file means no users.
 */
export class UsersFile {
  private users: RapiUsers = new Map();
  private seen = '';
  private checkedMs = Number.NEGATIVE_INFINITY;
  private pending: Promise<RapiUsers> | undefined;

  constructor(
    private readonly path: string,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  current(): Promise<RapiUsers> {
    if (this.nowMs() - this.checkedMs < RECHECK_MS) return Promise.resolve(this.users);
    this.pending ??= this.reload().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async reload(): Promise<RapiUsers> {
    this.checkedMs = this.nowMs();
    const info = await stat(this.path).catch(() => undefined);
    const stamp = info === undefined ? '' : `${info.ino}:${info.size}:${info.mtimeMs}`;
    if (stamp === this.seen) return this.users;
    this.seen = stamp;
    this.users =
      info === undefined ? new Map() : parseUsers(await readFile(this.path, 'utf8').catch(() => ''));
    return this.users;
  }
}
