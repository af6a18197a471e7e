import { describe, expect, it } from 'vitest';
import type { AgentInstanceStatus } from '../../src/cluster/node-status.js';
import {
  cpuAvgLoadReport,
  diskstatsReport,
  instanceStatusReport,
  MAX_DISKSTATS_LINES,
  nodeMemoryReport,
  storageDirsReport,
  summarize,
  worst,
} from '../../src/membership/monitor-reports.js';

const NOW_MS = 1_700_000_000_000;

function running(name: string, state: AgentInstanceStatus['state'] = 'running'): AgentInstanceStatus {
  return {
    name,
    uuid: `u-${name}`,
    hypervisor: 'fake',
    state,
    memoryMiB: 128,
    vcpus: 1,
    startedMs: NOW_MS - 90_000,
  };
}

describe("monitoring reports in Ganeti mond's shapes", () => {
  it('cpu-avg-load: each CPU busy share over the window, summed as cpu_total, timestamp in ns', () => {
    const report = cpuAvgLoadReport(
      [
        [
          { busyMs: 100, totalMs: 1000 },
          { busyMs: 0, totalMs: 1000 },
        ],
        [
          { busyMs: 350, totalMs: 2000 },
          { busyMs: 500, totalMs: 2000 },
        ],
      ],
      NOW_MS,
    );
    expect(report).toEqual({
      name: 'cpu-avg-load',
      version: 'B',
      format_version: 1,
      timestamp: NOW_MS * 1e6,
      category: null,
      kind: 0,
      data: { cpu_number: 2, cpus: [0.25, 0.5], cpu_total: 0.75 },
    });
    expect(cpuAvgLoadReport([[{ busyMs: 1, totalMs: 2 }]], NOW_MS).data).toEqual({
      cpu_number: 1,
      cpus: [0],
      cpu_total: 0,
    });
  });

  it('inst-status: admin against actual state, per instance and for the node', () => {
    const configured = [
      { name: 'web1', uuid: 'u-web1', adminState: 'up', mtimeMs: NOW_MS - 5_000 },
      { name: 'db1', uuid: 'u-db1', adminState: 'up', mtimeMs: NOW_MS },
      { name: 'old1', uuid: 'u-old1', adminState: 'down', mtimeMs: NOW_MS },
    ] as const;
    const report = instanceStatusReport(
      configured,
      [running('web1'), running('stray'), running('old1', 'paused')],
      NOW_MS,
    );
    expect(report).toMatchObject({ name: 'inst-status', category: 'instance', kind: 1 });
    const data = report.data as { status: { code: number }; instances: Record<string, unknown>[] };
    expect(
      data.instances.map((i) => [i.name, i.admin_state, i.actual_state, (i.status as { code: number }).code]),
    ).toEqual([
      ['db1', 'up', 'down', 1],
      ['old1', 'down', 'hung', 2],
      ['stray', 'unknown', 'up', 4],
      ['web1', 'up', 'up', 0],
    ]);
    expect(data.instances.find((i) => i.name === 'web1')).toMatchObject({
      uptime: 90,
      mtime: (NOW_MS - 5_000) / 1000,
      uuid: 'u-web1',
    });
    expect(data.status.code).toBe(1 | 2 | 4);
    expect(instanceStatusReport([], [], NOW_MS).data).toEqual({
      status: { code: 0, message: '' },
      instances: [],
    });
  });

  it('storage-dirs: unreadable is unknown, nearly full is broken', () => {
    const report = storageDirsReport(
      [
        { path: '/srv/a', freeBytes: 50, totalBytes: 100 },
        { path: '/srv/b', freeBytes: 4, totalBytes: 100 },
        { path: '/srv/c' },
      ],
      NOW_MS,
    );
    const data = report.data as {
      status: { code: number; message: string };
      dirs: { status: { code: number } }[];
    };
    expect(data.dirs.map((dir) => dir.status.code)).toEqual([0, 4, 2]);
    expect(data.status).toEqual({ code: 6, message: 'only 4.0 % free; free space or add some' });
  });

  it("node-memory: Ganeti's mtotal, mfree and mnode", () => {
    expect(
      nodeMemoryReport({ memoryTotalMiB: 4096, memoryFreeMiB: 1024, memoryInstancesMiB: 2048 }, NOW_MS).data,
    ).toEqual({
      mtotal: 4096,
      mfree: 1024,
      minstances: 2048,
      mnode: 1024,
    });
  });

  it('diskstats: one entry per line with Ganeti field names; bad lines skipped, the count capped', () => {
    const text = [
      '   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15',
      'garbage',
      '   8       1 sda1 x 2 3 4 5 6 7 8 9 10 11',
    ].join('\n');
    expect(diskstatsReport(text, NOW_MS)).toMatchObject({
      name: 'diskstats',
      category: 'storage',
      kind: 0,
      data: [
        {
          major: 8,
          minor: 0,
          name: 'sda',
          readsNum: 1,
          mergedReads: 2,
          secRead: 3,
          timeRead: 4,
          writes: 5,
          mergedWrites: 6,
          secWritten: 7,
          timeWrite: 8,
          ios: 9,
          timeIO: 10,
          wIOmillis: 11,
        },
      ],
    });
    const many = Array.from(
      { length: MAX_DISKSTATS_LINES + 10 },
      (_, i) => `8 ${i} d${i} 1 2 3 4 5 6 7 8 9 10 11`,
    ).join('\n');
    expect(diskstatsReport(many, NOW_MS).data).toHaveLength(MAX_DISKSTATS_LINES);
  });

  it('gossips only the status codes of status reports', () => {
    const reports = [
      cpuAvgLoadReport([], NOW_MS),
      storageDirsReport([{ path: '/srv/c' }], NOW_MS),
      instanceStatusReport([], [], NOW_MS),
    ];
    expect(summarize(reports)).toEqual([
      { name: 'storage-dirs', code: 2 },
      { name: 'inst-status', code: 0 },
    ]);
    expect(worst([])).toEqual({ code: 0, message: '' });
  });
});
