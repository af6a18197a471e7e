import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { systemClock } from '../../src/common/clock.js';
import { silentLogger } from '../../src/common/log.js';
import { accelVerdict, probeBoot, probeBootSector, probeMarker } from '../../src/vm/accel-probe.js';

const qemuBinary = 'qemu-system-x86_64';
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'corral-accel-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('the probe guest is a boot sector that prints its marker under TCG', async () => {
  const sector = probeBootSector();
  expect(sector.length).toBe(512);
  expect([sector[510], sector[511]]).toEqual([0x55, 0xaa]);
  const result = await probeBoot({
    qemuBinary,
    accel: 'tcg',
    timeoutMs: 10_000,
    workDir: dir,
    clock: systemClock,
  });
  expect(result).toMatchObject({ booted: true });
  expect(result.elapsedMs).toBeLessThan(10_000);
  expect(new TextDecoder().decode(sector)).toContain(probeMarker);
});

it('gives this node a verdict and caches it in the run dir', async () => {
  // A node's first start: the run dir does not exist yet.
  const runDir = join(dir, 'run');
  const options = { runDir, qemuBinary, clock: systemClock, log: silentLogger };
  const first = await accelVerdict(options);
  expect(['kvm', 'tcg']).toContain(first.accel);
  expect(first.reason).not.toBe('');
  const cached = JSON.parse(await readFile(join(runDir, 'accel-verdict.json'), 'utf8'));
  expect(cached).toEqual(first);
  // The second call reads the cache: the same probe time, not a new one.
  expect(await accelVerdict(options)).toEqual(first);
});

it('a KVM that opens but hangs the guest gets TCG, within the time limit', async () => {
  // Stands in for the machines where /dev/kvm works and a guest under it never prints anything.
  const hangingQemu = join(dir, 'hanging-qemu');
  await writeFile(hangingQemu, '#!/bin/sh\nexec sleep 60\n');
  await chmod(hangingQemu, 0o755);
  const startMs = performance.now();
  const verdict = await accelVerdict({
    runDir: dir,
    qemuBinary: hangingQemu,
    clock: systemClock,
    log: silentLogger,
    probeTimeoutMs: 1_000,
    kvmDevice: '/dev/null',
  });
  expect(performance.now() - startMs).toBeLessThan(5_000);
  expect(verdict).toMatchObject({ accel: 'tcg', qemuBinary: hangingQemu });
  expect(verdict.reason).toMatch(
    /\/dev\/null opens, but a probe guest under KVM did not boot: no marker .* 1000 ms/,
  );
});

it('a missing KVM device gives TCG without a probe boot', async () => {
  const verdict = await accelVerdict({
    runDir: dir,
    qemuBinary: join(dir, 'never-run'),
    clock: systemClock,
    log: silentLogger,
    kvmDevice: join(dir, 'no-kvm'),
  });
  expect(verdict).toMatchObject({ accel: 'tcg' });
  expect(verdict.reason).toMatch(/no-kvm cannot be opened \(ENOENT\)/);
});

it('a QEMU that cannot run gives no verdict, and none is cached', async () => {
  const options = {
    runDir: dir,
    qemuBinary: join(dir, 'no-such-qemu'),
    clock: systemClock,
    log: silentLogger,
    kvmDevice: '/dev/null',
  };
  await expect(accelVerdict(options)).rejects.toMatchObject({
    code: 'unavailable',
    message: /no-such-qemu cannot run/,
  });
  await expect(readFile(join(dir, 'accel-verdict.json'))).rejects.toMatchObject({ code: 'ENOENT' });
});
