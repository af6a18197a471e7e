import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { balanceGroup } from '../../src/alloc/balance.js';
import { checkCluster, checkGroup, clusterTotals, needsRebalance } from '../../src/alloc/check.js';
import { showPolicy } from '../../src/alloc/haskell-show.js';
import { buildState, groupNodes } from '../../src/alloc/state.js';
import { groupSummaries, splitInstances } from '../../src/alloc/summary.js';
import { parseTextBackend } from '../../src/alloc/text-backend.js';

/** Ganeti's own test data; expected values are what Ganeti 3.0.2's hcheck and hinfo print for them. */
const load = (name: string) =>
  buildState(
    parseTextBackend(readFileSync(new URL(`../ganeti-htools/data/${name}`, import.meta.url), 'utf8'), name),
  );

describe('hcheck', () => {
  it('finds a node that cannot be evacuated directly', () => {
    // hcheck --machine-readable -t shared-n1-failure.data: HCHECK_INIT_GROUP_0_* and _CLUSTER_*
    const state = load('shared-n1-failure.data');
    const groups = checkCluster(state, true);
    expect(groups).toHaveLength(1);
    expect(groups[0]?.stats).toEqual([0, 0, 0, 0, 1]);
    expect(groups[0]?.score).toBeCloseTo(3.46410162, 8);
    expect(needsRebalance(clusterTotals(groups, true))).toBe(true);
    // With --no-capacity-checks there is no GN1_FAIL figure, and nothing to do.
    const without = checkCluster(state, false);
    expect(without[0]?.stats).toEqual([0, 0, 0, 0]);
    expect(needsRebalance(clusterTotals(without, false))).toBe(false);
  });

  it('checks the group again after hbal’s balancing', () => {
    // hcheck --machine-readable -t shared-n1-failure.data: HCHECK_FINAL_GROUP_0_SCORE=2.34941019, GN1_FAIL=1
    const state = load('shared-n1-failure.data');
    const balanced = balanceGroup(state, groupNodes(state, 0)).final;
    const after = checkGroup(balanced, 0, true);
    expect(after.stats).toEqual([0, 0, 0, 0, 1]);
    expect(after.score).toBeCloseTo(2.34941019, 8);
  });

  it('counts N+1 failures and skips empty groups', () => {
    // hcheck --machine-readable -t n1-failure.data: group 0 only, N1_FAIL=4, GN1_FAIL=4, score 22.37526844
    const groups = checkCluster(load('n1-failure.data'), true);
    expect(groups.map((g) => g.group)).toEqual([0]);
    expect(groups[0]?.stats).toEqual([4, 0, 0, 0, 4]);
    expect(groups[0]?.score).toBeCloseTo(22.37526844, 8);
  });
});

describe('hinfo', () => {
  it('summarises each group', () => {
    // hinfo -v -v -t n1-failure.data: "group-01 8 8 4 8 False 22.37526844", Cluster is N+1 unhappy
    const [group, ...rest] = groupSummaries(load('n1-failure.data'));
    expect(rest).toEqual([]);
    expect(group).toMatchObject({ name: 'group-01', nodes: 8, instances: 8, badNodes: 4, badInstances: 8 });
    expect(group?.score).toBeCloseTo(22.37526844, 8);
  });

  it('lists the instances split across groups', () => {
    // hinfo -t hbal-split-insts.data prints 52 names, new-8 first.
    const split = splitInstances(load('hbal-split-insts.data'));
    expect(split).toHaveLength(52);
    expect(split[0]?.name).toBe('new-8');
  });

  it('shows the policy as Haskell shows it', () => {
    // hinfo -v -v -v -t hbal-split-insts.data: "Loaded cluster ipolicy: IPolicy {...}"
    const text = readFileSync(
      new URL('../ganeti-htools/data/hbal-split-insts.data', import.meta.url),
      'utf8',
    );
    expect(showPolicy(parseTextBackend(text, 'f').clusterPolicy)).toBe(
      'IPolicy {iPolicyMinMaxISpecs = [MinMaxISpecs {minMaxISpecsMinSpec = ISpec {iSpecMemorySize = 128, iSpecCpuCount = 1, iSpecDiskSize = 1024, iSpecDiskCount = 1, iSpecNicCount = 1, iSpecSpindleUse = 1}, minMaxISpecsMaxSpec = ISpec {iSpecMemorySize = 32768, iSpecCpuCount = 8, iSpecDiskSize = 1048576, iSpecDiskCount = 16, iSpecNicCount = 8, iSpecSpindleUse = 12}}], iPolicyStdSpec = ISpec {iSpecMemorySize = 128, iSpecCpuCount = 1, iSpecDiskSize = 1024, iSpecDiskCount = 1, iSpecNicCount = 1, iSpecSpindleUse = 1}, iPolicyDiskTemplates = [DTDiskless,DTFile,DTSharedFile,DTPlain,DTBlock,DTDrbd8,DTRbd], iPolicyVcpuRatio = 4.0, iPolicySpindleRatio = 32.0}',
    );
  });
});
