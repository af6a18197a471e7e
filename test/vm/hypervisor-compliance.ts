import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AttachedDisk, GuestDevices, Hypervisor, InstanceSpec } from '../../src/vm/hypervisor.js';

/** The spec a migration target is given: the source guest's devices on their slots, as the node agent builds it. */
export function specOfDevices(
  spec: InstanceSpec,
  devices: GuestDevices,
  disks: readonly AttachedDisk[],
): InstanceSpec {
  return {
    ...spec,
    disks: devices.disks.map(({ uuid, pciSlot }) => ({ ...disks.find((d) => d.uuid === uuid)!, pciSlot })),
    nics: devices.nics,
  };
}

/**
 * The behaviour every hypervisor owes the node agent. A suite file calls this with a factory that builds
 * hypervisors for two nodes (a migration source and a target) and the spec of a bootable guest.
 */
export interface ComplianceSubject {
  /** A hypervisor for node `index` (0 or 1); a second call with the same index is that node's daemon restarted. */
  make(index: 0 | 1): Hypervisor;
  spec(name: string): InstanceSpec;
  /** The host the migration target listens on. */
  readonly bindHost: string;
  /** A disk that can be plugged into a running guest, made anew for each call. */
  newDisk(uuid: string): Promise<AttachedDisk>;
  /** Resolves once the guest can answer hot-plug requests (a real one must have booted). */
  guestReady(hv: Hypervisor, name: string): Promise<void>;
  cleanup(): Promise<void>;
}

export function hypervisorCompliance(
  label: string,
  setup: () => Promise<ComplianceSubject>,
  timeoutMs = 30_000,
): void {
  describe(`${label} hypervisor compliance`, () => {
    let subject: ComplianceSubject;
    let hv: Hypervisor;

    beforeEach(async () => {
      subject = await setup();
      hv = subject.make(0);
    }, timeoutMs);

    afterEach(async () => {
      for (const index of [0, 1] as const) {
        const node = subject.make(index);
        for (const inst of await node.list()) await node.stop(inst.name, { timeoutMs: 1_000, force: true });
      }
      await subject.cleanup();
    }, timeoutMs);

    it('starts, reports and stops an instance', { timeout: timeoutMs }, async () => {
      const spec = subject.spec('web1');
      await hv.start(spec);
      const status = await hv.status('web1');
      expect(status?.state).toBe('running');
      expect(status?.uuid).toBe(spec.uuid);
      expect(status?.memoryMiB).toBe(spec.memoryMiB);
      expect((await hv.list()).map((i) => i.name)).toEqual(['web1']);
      const resources = await hv.resources();
      expect(resources.memoryInstancesMiB).toBeGreaterThanOrEqual(spec.memoryMiB);
      expect(resources.cpus).toBeGreaterThan(0);
      await hv.stop('web1', { timeoutMs: 2_000 });
      expect(await hv.status('web1')).toBeUndefined();
      expect(await hv.list()).toEqual([]);
    });

    it('refuses to start an instance twice and tolerates stopping a stopped one', {
      timeout: timeoutMs,
    }, async () => {
      await hv.start(subject.spec('web1'));
      await expect(hv.start(subject.spec('web1'))).rejects.toMatchObject({ code: 'conflict' });
      await hv.stop('web1', { timeoutMs: 1_000, force: true });
      await hv.stop('web1', { timeoutMs: 1_000, force: true });
      expect(await hv.status('web1')).toBeUndefined();
    });

    it('refuses unknown hypervisor parameters', () => {
      expect(() => hv.checkParams({ no_such_param: '1' })).toThrow(/no_such_param/);
    });

    it('a restarted daemon finds the instances still running', { timeout: timeoutMs }, async () => {
      await hv.start(subject.spec('web1'));
      const again = subject.make(0);
      expect((await again.status('web1'))?.state).toBe('running');
      await again.stop('web1', { timeoutMs: 1_000, force: true });
      expect(await hv.status('web1')).toBeUndefined();
    });

    it('reboots an instance and keeps it running', { timeout: timeoutMs }, async () => {
      await hv.start(subject.spec('web1'));
      await hv.reboot('web1', 'hard');
      expect((await hv.status('web1'))?.state).toBe('running');
      await expect(hv.reboot('absent', 'hard')).rejects.toMatchObject({ code: 'conflict' });
    });

    it('migrates an instance to another node: the target runs it, the source does not', {
      timeout: timeoutMs,
    }, async () => {
      const target = subject.make(1);
      const spec = subject.spec('web1');
      await hv.start(spec);
      const endpoint = await target.acceptMigration(spec, subject.bindHost, { copyStorage: false });
      const result = await hv.migrate('web1', endpoint, { live: true });
      await target.finishMigration('web1', true);
      expect(result.totalMs).toBeGreaterThanOrEqual(0);
      expect(result.downtimeMs).toBeGreaterThanOrEqual(0);
      expect(await hv.status('web1')).toBeUndefined();
      expect((await target.status('web1'))?.state).toBe('running');
    });

    it('plugs disks and NICs in and out of a running guest, each on a slot of its own, and a migration keeps them', {
      timeout: timeoutMs,
    }, async () => {
      const spec = subject.spec('web1');
      await hv.start(spec);
      await subject.guestReady(hv, 'web1');
      const booted = await hv.devices('web1');
      expect(booted.disks.map((d) => d.uuid)).toEqual(spec.disks.map((d) => d.uuid));
      const bootSlots = [...booted.disks, ...booted.nics].map((d) => d.pciSlot);
      expect(bootSlots.every((slot) => slot !== undefined && slot >= 12)).toBe(true);
      expect(booted.hotplugRefusals).toEqual({});

      const [extra, other] = [await subject.newDisk('hot-a'), await subject.newDisk('hot-b')];
      const nic = { uuid: 'nic-hot', mac: 'aa:00:00:00:00:42', mode: 'none' as const, link: '' };
      const diskSlot = await hv.hotAdd('web1', { kind: 'disk', disk: extra });
      const nicSlot = await hv.hotAdd('web1', { kind: 'nic', nic });
      const otherSlot = await hv.hotAdd('web1', { kind: 'disk', disk: other });
      expect(new Set([...bootSlots, diskSlot, nicSlot, otherSlot]).size).toBe(bootSlots.length + 3);
      await expect(hv.hotAdd('web1', { kind: 'nic', nic })).rejects.toMatchObject({ code: 'conflict' });
      await expect(
        hv.hotAdd('web1', { kind: 'nic', nic: { ...nic, uuid: 'nic-twin', pciSlot: nicSlot } }),
      ).rejects.toThrow(`PCI slot ${nicSlot} of web1 is taken by another device`);

      // The first hot-plugged disk goes; the other devices keep their slots.
      await hv.hotRemove('web1', 'disk', 'hot-a');
      await expect(hv.hotRemove('web1', 'disk', 'hot-a')).rejects.toThrow(/has no disk hot-a plugged in/);
      const plugged = await hv.devices('web1');
      expect(plugged.disks).toEqual([...booted.disks, { uuid: 'hot-b', pciSlot: otherSlot }]);
      expect(plugged.nics).toEqual([...booted.nics, { ...nic, pciSlot: nicSlot }]);

      const target = subject.make(1);
      const targetSpec = specOfDevices(spec, plugged, [...spec.disks, other]);
      const endpoint = await target.acceptMigration(targetSpec, subject.bindHost, { copyStorage: false });
      await hv.migrate('web1', endpoint, { live: true });
      await target.finishMigration('web1', true);
      expect(await target.devices('web1')).toEqual(plugged);
      await expect(hv.devices('web1')).rejects.toMatchObject({ code: 'conflict' });
    });

    it('a failed migration leaves the source running and nothing on the target', {
      timeout: timeoutMs,
    }, async () => {
      const target = subject.make(1);
      const spec = subject.spec('web1');
      await hv.start(spec);
      await target.acceptMigration(spec, subject.bindHost, { copyStorage: false });
      await target.finishMigration('web1', false);
      expect(await target.status('web1')).toBeUndefined();
      expect((await hv.status('web1'))?.state).toBe('running');
    });
  });
}
