import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';

/**
 * A node's enrolment code: the proof that whoever admits it into a cluster was given it by someone with root
 * on that node (`corral identity` prints it, from a 0600 file), as Ganeti's node add needs root's SSH key.
 * It names the node's peer ID, so `node add` knows which peer to admit before it sends anything, and carries
 * a secret the unjoined node checks. A node that leaves its cluster draws a new one, so a code seen once (in
 * a job record, say) does not let anyone take the node over later.
 */
export const ENROLMENT_FILE = 'enrolment.key';
const prefix = 'corral-enrol-v1';
const SECRET_BYTES = 32;

export class Enrolment {
  private constructor(
    /** Keeps a new secret where it lasts: the file, or nowhere for a simulated node. */
    private readonly persist: (secret: Buffer) => Promise<void>,
    private readonly self: NodeId,
    private secret: Buffer,
  ) {}

  /** Loads the node's enrolment secret, creating it (mode 0600) on first start. */
  static async open(dataDir: string, self: NodeId): Promise<Enrolment> {
    const path = join(dataDir, ENROLMENT_FILE);
    const persist = async (secret: Buffer) => {
      const fresh = `${path}.new`;
      await writeFile(fresh, secret, { mode: 0o600 });
      await rename(fresh, path);
    };
    let secret: Buffer;
    try {
      secret = await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      secret = randomBytes(SECRET_BYTES);
      // 'wx' so that two processes starting on one data dir cannot both write a secret.
      await writeFile(path, secret, { mode: 0o600, flag: 'wx' });
    }
    if (secret.length !== SECRET_BYTES)
      throw new CorralError(
        'internal',
        `${path} is damaged; remove it and restart the daemon for a new code`,
      );
    return new Enrolment(persist, self, secret);
  }

  /** A simulated node's code, kept in memory across its simulated restarts. */
  static inMemory(self: NodeId): Enrolment {
    return new Enrolment(async () => undefined, self, randomBytes(SECRET_BYTES));
  }

  /** What `corral identity` shows and `node add --enrol-code` takes. */
  code(): string {
    return enrolmentCode(this.self, this.secret);
  }

  /** Whether a code shown by a caller is this node's current one. */
  matches(code: string): boolean {
    const parsed = tryParse(code);
    if (parsed === undefined || parsed.peer !== this.self) return false;
    const given = Buffer.from(parsed.secret, 'base64url');
    return given.length === this.secret.length && timingSafeEqual(given, this.secret);
  }

  /** Draws a new secret: the node left its cluster, and any code shown before must stop working. */
  async renew(): Promise<void> {
    const secret = randomBytes(SECRET_BYTES);
    await this.persist(secret);
    this.secret = secret;
  }
}

/** Reads the node an enrolment code admits, refusing anything that is not one in a line the user can act on. */
export function enrolmentPeer(code: string): string {
  const parsed = tryParse(code);
  if (parsed === undefined)
    throw new CorralError(
      'bad_enrolment',
      "malformed enrolment code: copy it whole from 'corral identity' on the node being added",
    );
  return parsed.peer;
}

function enrolmentCode(self: NodeId, secret: Buffer): string {
  return `${prefix}:${self}:${secret.toString('base64url')}`;
}

function tryParse(code: string): { readonly peer: string; readonly secret: string } | undefined {
  const [tag, peer, secret, ...rest] = code.split(':');
  if (tag !== prefix || !peer || !secret || rest.length > 0 || !/^[A-Za-z0-9_-]{43}$/.test(secret))
    return undefined;
  return { peer, secret };
}
