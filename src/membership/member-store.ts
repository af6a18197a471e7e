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

const clusterRefSchema = z.object({ name: z.string().min(1).max(253), uuid: z.string().min(1).max(64) });
export type ClusterRef = z.infer<typeof clusterRefSchema>;

const fileSchema = z.object({
  v: z.literal(1),
  secret: bytesSchema,
  members: z.array(memberSchema).max(MAX_MEMBERS),
  cluster: clusterRefSchema.optional(),
  serial: z.number().int().nonnegative().optional(),
});

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });

/**
 * The nodes this node lets in, the cluster it belongs to, and the cluster secret join tokens are checked
 * with, kept on disk so that a restarted daemon admits the same peers. A node in no cluster yet lets anyone
 * in, so that a master can add it: the same trust a fresh Ganeti node gives whoever holds its root SSH key.
 */
export class MemberStore implements MemberDirectory {
  private constructor(
    /** Writes the encoded store where it lasts: a file for the daemon, nowhere in the simulator. */
    private readonly persist: (encoded: Uint8Array) => Promise<void>,
    private readonly self: NodeId,
    private secret: Uint8Array,
    private members: Map<NodeId, Member>,
    private clusterRef: ClusterRef | undefined,
    /** The serial of the configuration the member list was last taken from (see replace). */
    private serial = 0,
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
    const persist = (encoded: Uint8Array) => writeFileDurably(path, encoded);
    if (raw === undefined) {
      const store = MemberStore.fresh(persist, self);
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
    return new MemberStore(
      persist,
      self,
      parsed.data.secret,
      members,
      parsed.data.cluster,
      parsed.data.serial ?? 0,
    );
  }

  /** A store kept only in memory: a simulated node's, which the simulation keeps across its restarts. */
  static inMemory(self: NodeId): MemberStore {
    return MemberStore.fresh(async () => undefined, self);
  }

  private static fresh(persist: (encoded: Uint8Array) => Promise<void>, self: NodeId): MemberStore {
    return new MemberStore(
      persist,
      self,
      newClusterSecret(),
      new Map([[self, { id: self, addrs: [] }]]),
      undefined,
    );
  }

  isMember(peer: NodeId): boolean {
    return this.members.has(peer);
  }

  acceptsAnyone(): boolean {
    return this.clusterRef === undefined;
  }

  /** The cluster this node belongs to, or undefined while it waits to be initialised or added. */
  get cluster(): ClusterRef | undefined {
    return this.clusterRef;
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

  /** The serial of the configuration the member list follows. */
  get configSerial(): number {
    return this.serial;
  }

  /** Founding or joining a cluster: from now on only its members, those of configuration `serial`, get in. */
  async join(
    cluster: ClusterRef,
    secret: Uint8Array,
    members: readonly Member[],
    serial: number,
  ): Promise<void> {
    this.clusterRef = cluster;
    this.secret = secret;
    this.serial = serial;
    for (const member of members) this.members.set(member.id, member);
    await this.save();
  }

  /**
   * Takes the cluster secret the replicated configuration holds (renew-crypto changed it): in force from this
   * call on, so of two calls in a row the later wins; resolves, once saved, with whether it was new.
   */
  adoptSecret(secret: Uint8Array): Promise<boolean> {
    if (Buffer.compare(this.secret, secret) === 0) return Promise.resolve(false);
    this.secret = secret;
    return this.save().then(() => true);
  }

  /**
   * Makes the member list exactly the nodes of configuration `serial` (this node always stays); returns whether
   * it changed. An older configuration than the one followed is ignored: a node replaying its log after it
   * was admitted, or after a restart, passes through configurations that lack the newer members.
   */
  async replace(members: readonly Member[], serial: number): Promise<boolean> {
    if (serial < this.serial) return false;
    this.serial = serial;
    const next = new Map<NodeId, Member>([
      [this.self, this.members.get(this.self) ?? { id: this.self, addrs: [] }],
    ]);
    for (const member of members) if (member.id !== this.self) next.set(member.id, member);
    const same =
      next.size === this.members.size &&
      [...next.values()].every((member) => {
        const known = this.members.get(member.id);
        return known !== undefined && sameAddrs(known.addrs, member.addrs);
      });
    // The serial is saved with the members it goes with: one saved since is only newer with the same members,
    // so a restart that replays the log from an older one follows nothing older than what it had. Saving it
    // on every configuration change cost the master an fsync per job.
    if (same) return false;
    this.members = next;
    await this.save();
    return true;
  }

  /** Removed from its cluster: the node forgets it and waits, open, to be added again. */
  async leave(): Promise<void> {
    this.clusterRef = undefined;
    this.secret = newClusterSecret();
    this.serial = 0;
    this.members = new Map([[this.self, this.members.get(this.self) ?? { id: this.self, addrs: [] }]]);
    await this.save();
  }

  /** Saves run one after another, each writing the state as it is when its turn comes. */
  private saving: Promise<void> = Promise.resolve();

  private save(): Promise<void> {
    const next = this.saving.then(() => this.write());
    this.saving = next.catch(() => undefined);
    return next;
  }

  private async write(): Promise<void> {
    const members = this.list().map((member) => ({ id: member.id, addrs: [...member.addrs] }));
    const cluster = this.clusterRef;
    await this.persist(
      cbor.encode({
        v: 1,
        secret: this.secret,
        members,
        ...(cluster !== undefined && { cluster }),
        serial: this.serial,
      }),
    );
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
