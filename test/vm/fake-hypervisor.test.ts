import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { systemClock } from '../../src/common/clock.js';
import { createFakeHypervisor, fakeStatesInDir, fakeStatesInMemory } from '../../src/vm/fake-hypervisor.js';
import type { InstanceSpec } from '../../src/vm/hypervisor.js';
import { hypervisorCompliance } from './hypervisor-compliance.js';

function spec(name: string, memoryMiB = 128): InstanceSpec {
  return { name, uuid: `uuid-${name}`, memoryMiB, vcpus: 1, disks: [], nics: [], hvParams: {} };
}

const fakeDisk = (uuid: string) => ({ uuid, path: `/fake/${uuid}`, format: 'raw' as const, readOnly: false });
const withDisk = (name: string): InstanceSpec => ({ ...spec(name), disks: [fakeDisk(`disk-${name}`)] });

hypervisorCompliance('fake', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'corral-fake-hv-'));
  return {
    make: (index) =>
      createFakeHypervisor({
        states: fakeStatesInDir(join(dir, `node${index}`)),
        memoryTotalMiB: 1024,
        cpus: 2,
        clock: systemClock,
      }),
    spec: withDisk,
    bindHost: '127.0.0.1',
    newDisk: async (uuid) => fakeDisk(uuid),
    guestReady: async () => {},
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

// The simulator's form: the same behaviour with its records in memory, one map per node.
hypervisorCompliance('fake in memory', async () => {
  const nodes = new Map<number, ReturnType<typeof fakeStatesInMemory>>();
  return {
    make: (index) => {
      if (!nodes.has(index)) nodes.set(index, fakeStatesInMemory());
      return createFakeHypervisor({
        states: nodes.get(index)!,
        memoryTotalMiB: 1024,
        cpus: 2,
        clock: systemClock,
      });
    },
    spec: withDisk,
    bindHost: '127.0.0.1',
    newDisk: async (uuid) => fakeDisk(uuid),
    guestReady: async () => {},
    cleanup: async () => undefined,
  };
});

it('the fake hypervisor accounts memory and refuses what does not fit', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'corral-fake-hv-'));
  try {
    const hv = createFakeHypervisor({
      states: fakeStatesInDir(dir),
      memoryTotalMiB: 512,
      cpus: 2,
      clock: systemClock,
    });
    await hv.start(spec('a', 384));
    expect(await hv.resources()).toMatchObject({ memoryFreeMiB: 128, memoryInstancesMiB: 384 });
    await expect(hv.start(spec('b', 256))).rejects.toThrow(
      /not enough memory to start b: it needs 256 MiB, 128 MiB free/,
    );
    expect((await hv.list()).map((i) => i.name)).toEqual(['a']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
