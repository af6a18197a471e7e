import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Hypervisor, InstanceSpec } from '../../src/vm/hypervisor.js';

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
