import { describe, expect, it } from 'vitest';
import { parseHvParams, parseIndexed, parseKeyValues, parseSizeMiB } from '../../src/cli/ganeti-options.js';

describe("Ganeti's option syntax", () => {
  it('reads sizes with units, in MiB', () => {
    expect(parseSizeMiB('512', '-s')).toBe(512);
    expect(parseSizeMiB('512M', '-s')).toBe(512);
    expect(parseSizeMiB('10G', '-s')).toBe(10_240);
    expect(parseSizeMiB('1.5g', '-s')).toBe(1536);
    expect(parseSizeMiB('1T', '-s')).toBe(1_048_576);
    for (const bad of ['', 'ten', '-1G', '0', '5X'])
      expect(() => parseSizeMiB(bad, '-s')).toThrow(/-s: .*(not a size|must be positive)/);
  });

  it('reads key=value lists and refuses a bare or repeated key', () => {
    expect(parseKeyValues('memory=512M,vcpus=2', '-B')).toEqual({ memory: '512M', vcpus: '2' });
    expect(() => parseKeyValues('memory', '-B')).toThrow('-B: memory is not key=value');
    expect(() => parseKeyValues('a=1,a=2', '-B')).toThrow('-B: a is given twice');
  });

  it('reads per-index specs in order and refuses gaps', () => {
    expect(parseIndexed(['1:size=2G', '0:size=1G,mode=ro'], '--disk')).toEqual([
      { size: '1G', mode: 'ro' },
      { size: '2G' },
    ]);
    expect(() => parseIndexed(['1:size=1G'], '--disk')).toThrow('--disk: index 0 is missing');
    expect(() => parseIndexed(['0:size=1G', '0:size=2G'], '--disk')).toThrow('index 0 is given twice');
    expect(() => parseIndexed(['x:size=1G'], '--disk')).toThrow('is not N:key=value');
  });

  it('reads -H with or without the hypervisor', () => {
    expect(parseHvParams('kvm:kernel_path=/boot/vmlinuz,accel=tcg')).toEqual({
      hypervisor: 'kvm',
      params: { kernel_path: '/boot/vmlinuz', accel: 'tcg' },
    });
    expect(parseHvParams('fake')).toEqual({ hypervisor: 'fake', params: {} });
    expect(parseHvParams('boot_order=disk')).toEqual({ params: { boot_order: 'disk' } });
  });
});
