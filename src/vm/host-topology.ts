import { readdir, readFile } from 'node:fs/promises';

/** The host's CPU sockets and NUMA nodes, as Ganeti's hypervisors report them (cpu_sockets, cpu_nodes). */
export interface CpuTopology {
  readonly cpuSockets: number;
  readonly numaNodes: number;
}

let cached: Promise<CpuTopology> | undefined;

/** Read once per process: the hardware does not change under a running daemon. At least one of each. */
export function hostCpuTopology(): Promise<CpuTopology> {
  cached ??= (async () => {
    const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
    const sockets = new Set(cpuinfo.match(/^physical id\s*:\s*\d+/gm) ?? []).size;
    const nodes = (await readdir('/sys/devices/system/node').catch(() => [])).filter((entry) =>
      /^node\d+$/.test(entry),
    ).length;
    return { cpuSockets: Math.max(1, sockets), numaNodes: Math.max(1, nodes) };
  })();
  return cached;
}
