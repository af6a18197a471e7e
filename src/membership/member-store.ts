import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Encoder } from 'cbor-x';
import { z } from 'zod';
import { writeFileDurably } from '../common/durable-file.js';
import { CorralError } from '../common/errors.js';
import { asNodeId, type NodeId } from '../common/ids.js';
import { bytesSchema } from '../peer/codec.js';
import type { MemberDirectory } from '../peer/gate.js';
import { newClusterSecret } from '../peer/join-token.js';

export const MEMBERS_FILE = 'members.cbor';
export const MAX_MEMBERS = 1024;

export const memberSchema = z.object({
  id: z.string().min(1).max(128),
  addrs: z.array(z.string().max(256)).max(16),
});
export type Member = { readonly id: NodeId; readonly addrs: readonly string[] };

const fileSchema = z.object({
  v: z.literal(1),
  secret: bytesSchema,
  members: z.array(memberSchema).max(MAX_MEMBERS),
});

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

/**
 * The nodes this node lets in, and the cluster secret join tokens are checked with, kept on disk so that a
 * restarted daemon admits the same peers. A node that has joined no cluster is a cluster of one.
 */
export class MemberStore implements MemberDirectory {
  private constructor(
    private readonly path: string,
    private secret: Uint8Array,
    private readonly members: Map<NodeId, Member>,
  ) {}

  /** Opens the store, or starts a cluster of one; the caller records its own addresses once it listens. */
  static async open(dataDir: string, self: NodeId): Promise<MemberStore> {
    const path = join(dataDir, MEMBERS_FILE);
    let raw: Uint8Array | undefined;
    try {
      raw = await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (raw === undefined) {
      const store = new MemberStore(path, newClusterSecret(), new Map([[self, { id: self, addrs: [] }]]));
      await store.save();
      return store;
    }
    const parsed = fileSchema.safeParse(safeDecode(raw));
    if (!parsed.success) {
      throw new CorralError(
        'internal',
        `${path} is damaged (${parsed.error.issues[0]?.message}); restore it from a backup`,
      );
    }
    const members = new Map<NodeId, Member>();
    for (const member of parsed.data.members)
      members.set(asNodeId(member.id), { id: asNodeId(member.id), addrs: member.addrs });
    return new MemberStore(path, parsed.data.secret, members);
  }

  isMember(peer: NodeId): boolean {
    return this.members.has(peer);
  }

  clusterSecret(): Uint8Array {
    return this.secret;
  }

  list(): Member[] {
    return [...this.members.values()];
  }

  /** Adds or updates members; returns those that were new or changed. */
  async merge(incoming: readonly Member[]): Promise<Member[]> {
    const changed: Member[] = [];
    for (const member of incoming) {
      const known = this.members.get(member.id);
      if (known !== undefined && sameAddrs(known.addrs, member.addrs)) continue;
      if (known === undefined && this.members.size >= MAX_MEMBERS) {
        throw new CorralError('unavailable', `the cluster is at its limit of ${MAX_MEMBERS} members`);
      }
      this.members.set(member.id, member);
      changed.push(member);
    }
    if (changed.length > 0) await this.save();
    return changed;
  }

  /** Joining a cluster replaces this node's own cluster of one with the one it joins. */
  async adopt(secret: Uint8Array, members: readonly Member[]): Promise<void> {
    this.secret = secret;
    for (const member of members) this.members.set(member.id, member);
    await this.save();
  }

  private async save(): Promise<void> {
    const members = this.list().map((member) => ({ id: member.id, addrs: [...member.addrs] }));
    await writeFileDurably(this.path, cbor.encode({ v: 1, secret: this.secret, members }));
  }
}

function sameAddrs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((addr, i) => addr === b[i]);
}

function safeDecode(raw: Uint8Array): unknown {
  try {
    return cbor.decode(raw);
  } catch {
    return undefined;
  }
}
