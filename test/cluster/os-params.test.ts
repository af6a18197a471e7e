import { describe, expect, it } from 'vitest';
import {
  editedOsList,
  filledHvParams,
  filledOsParams,
  mergedOsHvTable,
  mergedParamTable,
  requireNotBlacklisted,
} from '../../src/cluster/os-params.js';

/** gnt-os modify's settings: how they merge, what an instance of the OS inherits, and the blacklist. */
describe("the cluster's per-OS settings", () => {
  it("merges parameters per OS, 'default' removing a key and an OS left with none", () => {
    const once = mergedParamTable(undefined, { debootstrap: { dhcp: 'yes', proxy: 'p' } });
    expect(mergedParamTable(once, { debootstrap: { proxy: 'default', mirror: 'm' } })).toEqual({
      debootstrap: { dhcp: 'yes', mirror: 'm' },
    });
    expect(mergedParamTable(once, { debootstrap: { dhcp: 'default', proxy: 'default' } })).toEqual({});
    expect(
      mergedOsHvTable(
        { debootstrap: { kvm: { kernel_path: '/k' } } },
        { debootstrap: { fake: { accel: 'tcg' } } },
      ),
    ).toEqual({ debootstrap: { kvm: { kernel_path: '/k' }, fake: { accel: 'tcg' } } });
  });

  it('fills an instance: the OS, then its variant, then the instance', () => {
    const cluster = {
      osParams: { debootstrap: { dhcp: 'yes', suite: 'bookworm' }, 'debootstrap+old': { suite: 'bullseye' } },
      osHvParams: { debootstrap: { kvm: { kernel_path: '/k', accel: 'tcg' } } },
    };
    const instance = {
      os: 'debootstrap+old',
      osParams: { dhcp: 'no' },
      hypervisor: 'kvm' as const,
      hvParams: { accel: 'kvm' },
    };
    expect(filledOsParams(cluster, instance)).toEqual({ dhcp: 'no', suite: 'bullseye' });
    expect(filledHvParams(cluster, instance)).toEqual({ kernel_path: '/k', accel: 'kvm' });
    expect(filledHvParams(cluster, { ...instance, hypervisor: 'fake' })).toEqual({ accel: 'kvm' });
  });

  it("edits the lists as Ganeti's add/remove do, and refuses a blacklisted OS for installation", () => {
    expect(
      editedOsList(
        ['a'],
        [
          ['add', 'b'],
          ['remove', 'a'],
        ],
        'hidden',
      ),
    ).toEqual(['b']);
    expect(() => editedOsList([], [['remove', 'a']], 'blacklisted')).toThrow('OS a is not blacklisted');
    expect(() => requireNotBlacklisted({ blacklistedOs: ['debootstrap'] }, 'debootstrap+old')).toThrow(
      "Guest OS 'debootstrap+old' is not allowed for installation: it is blacklisted (gnt-os modify --blacklisted=no debootstrap)",
    );
    expect(() => requireNotBlacklisted({}, 'debootstrap')).not.toThrow();
  });
});
