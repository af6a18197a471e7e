import type { DiskRecord, NicParams, NicRecord } from '../cluster/model.js';
import type { DiskModification, DiskSpecInput, NicModification } from '../cluster/opcodes.js';
import { CorralError } from '../common/errors.js';

/** Ganeti's limits (constants.MAX_NICS, MAX_DISKS). */
export const MAX_NICS = 8;
export const MAX_DISKS = 16;

interface Device {
  readonly uuid: string;
  readonly name?: string;
}

/**
 * Where a modification applies in `items`, Ganeti's way: -1 is the end for add and the last item otherwise;
 * add takes an index up to the length; the others also take a name or UUID.
 */
export function locateDevice(
  items: readonly Device[],
  op: 'add' | 'modify' | 'remove',
  identifier: number | string,
  kind: 'NIC' | 'disk',
): number {
  const asIndex =
    typeof identifier === 'number' ? identifier : /^-?\d+$/.test(identifier) ? Number(identifier) : undefined;
  if (asIndex === undefined) {
    if (op === 'add')
      throw new CorralError('bad_request', `${kind} add at ${identifier}: an add takes an index, not a name`);
    const found = items.findIndex((item) => item.name === identifier || item.uuid === identifier);
    if (found < 0) throw new CorralError('not_found', `no ${kind} has the name or UUID ${identifier}`);
    return found;
  }
  const last = op === 'add' ? items.length : items.length - 1;
  if (asIndex === -1 && last >= 0) return last;
  if (asIndex < 0 || asIndex > last)
    throw new CorralError(
      'bad_request',
      `${kind} index ${identifier} is out of range: the instance has ${items.length} ${kind}${items.length === 1 ? '' : 's'}`,
    );
  return asIndex;
}

function requireUniqueNames(items: readonly Device[], kind: 'NIC' | 'disk'): void {
  const seen = new Set<string>();
  for (const { name } of items) {
    if (name === undefined) continue;
    if (seen.has(name)) throw new CorralError('conflict', `two ${kind}s would have the name ${name}`);
    seen.add(name);
  }
}

const isMac = (mac: string) => /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac);

export interface NicEnvironment {
  readonly defaults: NicParams;
  /** The MACs of every other instance's NICs. */
  readonly macsElsewhere: ReadonlySet<string>;
  readonly newUuid: () => string;
  /** A fresh MAC under the cluster's prefix; called again while the one it gave is taken. */
  readonly newMac: () => string;
}

export interface NicPlan {
  readonly nics: NicRecord[];
  readonly added: NicRecord[];
  readonly removed: NicRecord[];
  /** The NICs there before whose MAC, mode or link changed (what the guest sees), as they are now. */
  readonly modified: NicRecord[];
}

/** Applies Ganeti's NIC modifications in order, checking them as Ganeti's LU does. */
export function planNicMods(
  current: readonly NicRecord[],
  mods: readonly NicModification[],
  env: NicEnvironment,
): NicPlan {
  const nics = [...current];
  const added: NicRecord[] = [];
  const removed: NicRecord[] = [];
  const takenBy = (mac: string, except?: NicRecord) =>
    env.macsElsewhere.has(mac) || nics.some((nic) => nic !== except && nic.mac === mac);
  const freshMac = () => {
    let mac = env.newMac();
    while (takenBy(mac)) mac = env.newMac();
    return mac;
  };
  const chosenMac = (wanted: string, except?: NicRecord) => {
    const mac = wanted.toLowerCase();
    if (!isMac(mac)) throw new CorralError('bad_request', `${wanted} is not a MAC address (six hex pairs)`);
    if (takenBy(mac, except))
      throw new CorralError('conflict', `MAC address ${mac} already in use in cluster`);
    return mac;
  };
  for (const [op, identifier, params] of mods) {
    const at = locateDevice(nics, op, identifier, 'NIC');
    if (op === 'remove') {
      removed.push(...nics.splice(at, 1));
      continue;
    }
    const { mac, ip, name, ...nicParams } = params;
    if (op === 'add') {
      const nic: NicRecord = {
        uuid: env.newUuid(),
        mac: mac === undefined || mac === 'auto' || mac === 'generate' ? freshMac() : chosenMac(mac),
        mode: nicParams.mode ?? env.defaults.mode,
        link: nicParams.link ?? env.defaults.link,
        ...(ip !== undefined && ip !== 'none' && { ip }),
        ...(name !== undefined && name !== 'none' && { name }),
      };
      nics.splice(at, 0, nic);
      added.push(nic);
      continue;
    }
    const old = nics[at]!;
    if (mac === 'auto')
      throw new CorralError(
        'bad_request',
        "'auto' is not a valid MAC address when modifying an existing NIC",
      );
    const { ip: _ip, name: _name, ...kept } = old;
    nics[at] = {
      ...kept,
      ...nicParams,
      ...(mac !== undefined && { mac: mac === 'generate' ? freshMac() : chosenMac(mac, old) }),
      ...(ip === undefined ? old.ip !== undefined && { ip: old.ip } : ip !== 'none' && { ip }),
      ...(name === undefined ? old.name !== undefined && { name: old.name } : name !== 'none' && { name }),
    };
  }
  if (nics.length > MAX_NICS)
    throw new CorralError(
      'conflict',
      `Instance has too many network interfaces (${MAX_NICS}), cannot add more`,
    );
  requireUniqueNames(nics, 'NIC');
  const modified = nics.filter((nic) => {
    const before = current.find((old) => old.uuid === nic.uuid);
    return (
      before !== undefined && (before.mac !== nic.mac || before.mode !== nic.mode || before.link !== nic.link)
    );
  });
  return { nics, added, removed, modified };
}

export interface DiskPlan {
  readonly disks: DiskRecord[];
  readonly added: DiskRecord[];
  readonly removed: DiskRecord[];
}

/** Applies Ganeti's disk modifications in order: add (new storage), remove, and mode or name changes. */
export function planDiskMods(
  current: readonly DiskRecord[],
  mods: readonly DiskModification[],
  newDisk: (spec: DiskSpecInput) => DiskRecord,
): DiskPlan {
  const disks = [...current];
  const added: DiskRecord[] = [];
  const removed: DiskRecord[] = [];
  for (const mod of mods) {
    const at = locateDevice(disks, mod[0], mod[1], 'disk');
    if (mod[0] === 'add') {
      const disk = newDisk(mod[2]);
      disks.splice(at, 0, disk);
      added.push(disk);
    } else if (mod[0] === 'remove') {
      const [disk] = disks.splice(at, 1);
      // A disk added and removed in one request never reaches the nodes.
      const fresh = added.indexOf(disk!);
      if (fresh >= 0) added.splice(fresh, 1);
      else removed.push(disk!);
    } else {
      const { name, mode } = mod[2];
      const old = disks[at]!;
      const { name: _name, ...kept } = old;
      const changed: DiskRecord = {
        ...kept,
        ...(mode !== undefined && { mode }),
        ...(name === undefined ? old.name !== undefined && { name: old.name } : name !== 'none' && { name }),
      };
      disks[at] = changed;
      const fresh = added.indexOf(old);
      if (fresh >= 0) added[fresh] = changed;
    }
  }
  if (disks.length > MAX_DISKS)
    throw new CorralError('conflict', `Instance has too many disks (${MAX_DISKS}), cannot add more`);
  requireUniqueNames(disks, 'disk');
  return { disks, added, removed };
}
