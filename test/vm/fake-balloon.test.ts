import { expect, it } from 'vitest';
import { systemClock } from '../../src/common/clock.js';
import { createFakeHypervisor, fakeStatesInMemory } from '../../src/vm/fake-hypervisor.js';

/** Runtime memory (Ganeti's instance_balloon_memory) on the fake hypervisor: recorded, and checked to fit. */
it('balloons a running guest down and up while the node has room, and refuses a stopped one', async () => {
  const hv = createFakeHypervisor({
    states: fakeStatesInMemory(),
    memoryTotalMiB: 512,
    cpus: 2,
    clock: systemClock,
  });
  const spec = (name: string, memoryMiB: number) => ({
    name,
    uuid: `uuid-${name}`,
    memoryMiB,
    vcpus: 1,
    disks: [],
    nics: [],
    hvParams: {},
  });
  await hv.start(spec('a', 256));
  await hv.start(spec('b', 128));
  await hv.setMemory('a', 64);
  expect((await hv.status('a'))?.memoryMiB).toBe(64);
  expect((await hv.resources()).memoryFreeMiB).toBe(320);
  await hv.setMemory('a', 384);
  expect((await hv.status('a'))?.memoryMiB).toBe(384);
  await expect(hv.setMemory('a', 400)).rejects.toThrow(
    'not enough memory to balloon a to 400 MiB: 0 MiB free on this node',
  );
  await expect(hv.setMemory('c', 64)).rejects.toThrow('c is not running on this node');
});
