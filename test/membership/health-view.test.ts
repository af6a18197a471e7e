import { describe, expect, it } from 'vitest';
import { bytesText, healthTable } from '../../src/cli/commands/health.js';
import { asNodeId } from '../../src/common/ids.js';
import type { MemberView } from '../../src/membership/gossip-service.js';
import type { HealthRecord } from '../../src/membership/health.js';
import {
  adminStatus,
  combinedStatus,
  healthRows,
  lastHeardText,
  shortAge,
} from '../../src/membership/health-view.js';

const record: HealthRecord = {
  load1: 0.5,
  load5: 0.4,
  load15: 0.3,
  cpuCount: 4,
  cpuUsePercent: 12.5,
  memoryTotalBytes: 8 * 1024 ** 3,
  memoryFreeBytes: 3 * 1024 ** 3,
  storage: [
    { path: '/srv/file', freeBytes: 20 * 1024 ** 3, totalBytes: 100 * 1024 ** 3 },
    { path: '/var/lib/corral', freeBytes: 512 * 1024 ** 2, totalBytes: 10 * 1024 ** 3 },
    { path: '/unreadable' },
  ],
  instancesRunning: 2,
  instanceMemoryBytes: 1024 ** 3,
  version: '0.1.0',
  configSerial: 17,
  raftRole: 'follower',
  collectedWallMs: 1,
};

function member(id: string, changes: Partial<MemberView> = {}): MemberView {
  return {
    id: asNodeId(id),
    state: 'alive',
    incarnation: 0,
    lastHeardMs: 1,
    ageMs: 400,
    stateAgeMs: 60_000,
    stale: false,
    health: record,
    healthAgeMs: 400,
    ...changes,
  };
}

const nodes = [
  { id: asNodeId('p1'), name: 'node1' },
  { id: asNodeId('p2'), name: 'node2' },
];

describe('the health view', () => {
  const view = [
    member('p2', { state: 'dead', ageMs: 95_000, stale: true, healthAgeMs: 95_000, incarnation: 3 }),
    member('p1'),
  ];

  it('names the nodes, sorts them, and picks one by name or peer ID', () => {
    const rows = healthRows(view, nodes);
    expect(rows.map((row) => [row.node, row.state, row.lastHeardAgeMs, row.stale])).toEqual([
      ['node1', 'alive', 400, false],
      ['node2', 'dead', 95_000, true],
    ]);
    expect(healthRows(view, nodes, 'node2')[0]?.incarnation).toBe(3);
    expect(healthRows(view, nodes, 'p1')[0]?.node).toBe('node1');
  });

  it('refuses a node the cluster does not have, rather than showing it as dead', () => {
    expect(() => healthRows(view, nodes, 'node9')).toThrow(
      'node node9 is not in the cluster; corral health lists the nodes',
    );
  });

  it('shows a stale record with its age, never as fresh', () => {
    const [fresh, stale] = healthRows(view, nodes);
    expect(lastHeardText(fresh!)).toBe('400ms');
    expect(lastHeardText(stale!)).toBe('stale 95s');
    expect(lastHeardText(healthRows([member('p1', { ageMs: undefined, stale: true })], nodes)[0]!)).toBe(
      'never',
    );
    const table = healthTable(healthRows(view, nodes)).split('\n');
    expect(table[0]).toMatch(/^Node\s+State\s+LastHeard\s+Load\s+MemFree\s+DiskFree\s+Inst\s+Role\s+Serial$/);
    expect(table[1]).toMatch(/^node1\s+alive\s+400ms\s+0\.50\s+3\.0G\s+512M\s+2\s+follower\s+17$/);
    expect(table[2]).toMatch(/^node2\s+dead\s+stale 95s\s/);
    expect(healthTable(healthRows([member('p1', { health: undefined })], nodes)).split('\n')[1]).toMatch(
      /^node1\s+alive\s+400ms(\s+\?){6}$/,
    );
  });

  it('combines the admin state with the observed one', () => {
    expect(combinedStatus(adminStatus({ offline: false, drained: false }), 'suspect')).toBe('online/suspect');
    expect(combinedStatus(adminStatus({ offline: false, drained: true }), 'alive')).toBe('drained/alive');
    expect(combinedStatus(adminStatus({ offline: true, drained: true }), undefined)).toBe('offline/?');
  });

  it('prints ages and sizes short', () => {
    expect([999, 1_000, 119_000, 600_000, 7_200_000].map(shortAge)).toEqual([
      '999ms',
      '1s',
      '119s',
      '10m',
      '2h',
    ]);
    expect([undefined, 100 * 1024 ** 2, 1.5 * 1024 ** 3, 2 * 1024 ** 4].map(bytesText)).toEqual([
      '?',
      '100M',
      '1.5G',
      '2.0T',
    ]);
  });
});
