import { describe, expect, it } from 'vitest';
import type { ClusterState } from '../../src/cluster/cluster-state.js';
import { ClusterState as State } from '../../src/cluster/cluster-state.js';
import { type Mutation, mutationSchema } from '../../src/cluster/mutations.js';
import {
  checkNodeNdParams,
  clusterNdParams,
  filledNdParams,
  forceNdParams,
  ND_DEFAULTS,
  updatedNdParams,
} from '../../src/cluster/ndparams.js';
import { CorralError } from '../../src/common/errors.js';
import { applyCommand, foundedCluster } from '../helpers/cluster-state.js';

const change = (state: ClusterState, mutation: Mutation) =>
  applyCommand(state, { type: 'config', atMs: 5, mutation });

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CorralError);
    return (error as Error).message;
  }
  throw new Error('not refused');
}

describe("node parameters: Ganeti's types (ForceDictType)", () => {
  it('converts the command line text to each key type as Ganeti does', () => {
    expect(
      forceNdParams(
        {
          cpu_speed: '1.5',
          exclusive_storage: 'True',
          oob_program: '/bin/oob',
          ovs: 'false',
          spindle_count: '4',
          ssh_port: 2222.7,
          ovs_link: null,
        },
        '--node-parameters',
      ),
    ).toEqual({
      cpu_speed: 1.5,
      exclusive_storage: true,
      oob_program: '/bin/oob',
      ovs: false,
      spindle_count: 4,
      ssh_port: 2222,
      ovs_link: null,
    });
    // Ganeti's keyval shorthands: no_ovs is False (and False is '' for a string), a bare key is True.
    expect(forceNdParams({ ovs: false, oob_program: false, exclusive_storage: true }, 'x')).toEqual({
      ovs: false,
      oob_program: '',
      exclusive_storage: true,
    });
  });

  it('refuses unknown keys and bad values in one line naming the option and the input', () => {
    expect(refusal(() => forceNdParams({ oob: '/bin/x' }, '--node-parameters'))).toBe(
      "--node-parameters: unknown node parameter 'oob'; known: cpu_speed, exclusive_storage, oob_program, ovs, ovs_link, ovs_name, spindle_count, ssh_port",
    );
    expect(refusal(() => forceNdParams({ spindle_count: 'four' }, '--node-parameters'))).toBe(
      "--node-parameters: 'spindle_count' (value four) is not a valid integer",
    );
    expect(refusal(() => forceNdParams({ ovs: 'maybe' }, 'ndparams'))).toBe(
      "ndparams: 'ovs' (value maybe) is not a valid boolean",
    );
    expect(refusal(() => forceNdParams({ cpu_speed: 'fast' }, 'ndparams'))).toBe(
      "ndparams: 'cpu_speed' (value fast) is not a valid float",
    );
    expect(refusal(() => forceNdParams({ oob_program: 3 }, 'ndparams'))).toBe(
      "ndparams: 'oob_program' (value 3) is not a valid string",
    );
    expect(refusal(() => forceNdParams({ oob_program: null }, 'ndparams'))).toBe(
      "ndparams: 'oob_program' (value null) is not a valid string",
    );
  });

  it('takes a key back to the inherited value with default (GetUpdatedParams), the cluster merges', () => {
    expect(updatedNdParams({ spindle_count: 2, ssh_port: 2222 }, { spindle_count: 'default' }, 'x')).toEqual({
      ssh_port: 2222,
    });
    expect(clusterNdParams({ ssh_port: 2222 }, { oob_program: '/bin/oob' }, 'x')).toEqual({
      ssh_port: 2222,
      oob_program: '/bin/oob',
    });
  });

  it('keeps the global ones off nodes (CheckParamsNotGlobal)', () => {
    expect(refusal(() => checkNodeNdParams({ exclusive_storage: 'true' }, 'ndparams'))).toBe(
      'ndparams: the node parameters exclusive_storage are global and cannot be customized at node level; set them on the cluster or the node group',
    );
    expect(() => checkNodeNdParams({ spindle_count: 2 }, 'ndparams')).not.toThrow();
  });
});

describe('node parameters inherited cluster → group → node (FillND)', () => {
  it("fills Ganeti's defaults, then the cluster's, the group's and the node's own", () => {
    expect(filledNdParams({})).toEqual(ND_DEFAULTS);
    expect(
      filledNdParams(
        { ndParams: { oob_program: '/c', spindle_count: 2, ssh_port: 2022 } },
        { ndParams: { oob_program: '/g', spindle_count: 3 } },
        { ndParams: { spindle_count: 4 } },
      ),
    ).toEqual({ ...ND_DEFAULTS, oob_program: '/g', spindle_count: 4, ssh_port: 2022 });
  });

  it('stores each level through mutations, and loads configurations made before them', () => {
    const state = foundedCluster();
    const config = () => state.config!;
    const node = () => config().nodes.get('n-1' as never)!;
    const group = () => config().groups.get('g-default' as never)!;
    // Made before node parameters: none stored, Ganeti's defaults in force.
    expect(config().cluster.ndParams).toBeUndefined();
    expect(filledNdParams(config().cluster, group(), node())).toEqual(ND_DEFAULTS);
    expect(change(state, { type: 'cluster-set', ndParams: { oob_program: '/c' } })).toEqual({ ok: true });
    expect(change(state, { type: 'group-set', uuid: 'g-default', ndParams: { spindle_count: 3 } })).toEqual({
      ok: true,
    });
    expect(
      change(state, {
        type: 'node-set',
        uuid: 'n-1',
        changes: { ndParams: { oob_program: '/n' }, powered: false },
        autoPromote: false,
      }),
    ).toEqual({ ok: true });
    expect(filledNdParams(config().cluster, group(), node())).toEqual({
      ...ND_DEFAULTS,
      oob_program: '/n',
      spindle_count: 3,
    });
    expect(node().powered).toBe(false);
    // A node never holds a global parameter, however the change came.
    const refused = change(state, {
      type: 'node-set',
      uuid: 'n-1',
      changes: { ndParams: { exclusive_storage: true } },
      autoPromote: false,
    });
    expect(refused).toMatchObject({ ok: false });
    // Through a snapshot, as a restarted node loads it.
    const copy = new State();
    copy.restore(state.snapshot());
    expect(copy.config!.cluster.ndParams).toEqual({ oob_program: '/c' });
    expect(copy.config!.groups.get('g-default' as never)!.ndParams).toEqual({ spindle_count: 3 });
    expect(copy.config!.nodes.get('n-1' as never)!.ndParams).toEqual({ oob_program: '/n' });
  });

  it('a log entry with an unknown key or a mistyped value is not a mutation', () => {
    const parse = (ndParams: unknown) => mutationSchema.safeParse({ type: 'cluster-set', ndParams }).success;
    expect(parse({ oob_program: '/c', spindle_count: 2 })).toBe(true);
    expect(parse({ oob: '/c' })).toBe(false);
    expect(parse({ spindle_count: '2' })).toBe(false);
  });
});
