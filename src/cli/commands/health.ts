import type { CommandModule } from 'yargs';
import type { HealthRow } from '../../membership/health-view.js';
import { lastHeardText } from '../../membership/health-view.js';
import { type ConnectionArgs, connectionOptions, daemonCall } from '../cluster-client.js';
import { localTime } from '../local-time.js';
import { renderTable } from '../table.js';

interface HealthArgs extends ConnectionArgs {
  node?: string;
  json: boolean;
  reports: boolean;
  events: boolean;
}

/** 1.5G, 512M: memory and disk figures at a glance. */
export function bytesText(bytes: number | undefined): string {
  if (bytes === undefined) return '?';
  const mib = bytes / (1024 * 1024);
  if (mib < 1024) return `${Math.round(mib)}M`;
  const gib = mib / 1024;
  return gib < 1024 ? `${gib.toFixed(1)}G` : `${(gib / 1024).toFixed(1)}T`;
}

/** The least free space among the storage dirs that could be read: the one that fills first. */
function diskFree(row: HealthRow): number | undefined {
  const free = (row.health?.storage ?? []).flatMap((dir) => dir.freeBytes ?? []);
  return free.length === 0 ? undefined : Math.min(...free);
}

export function healthTable(rows: readonly HealthRow[]): string {
  return renderTable(
    ['Node', 'State', 'LastHeard', 'Load', 'MemFree', 'DiskFree', 'Inst', 'Role', 'Serial'],
    rows.map((row) => {
      const h = row.health;
      return [
        row.node,
        row.state,
        lastHeardText(row),
        h === undefined ? '?' : h.load1.toFixed(2),
        bytesText(h?.memoryFreeBytes),
        bytesText(diskFree(row)),
        h === undefined ? '?' : String(h.instancesRunning),
        h?.raftRole ?? '?',
        h === undefined ? '?' : String(h.configSerial),
      ];
    }),
  );
}

export const healthCommand: CommandModule<object, HealthArgs> = {
  command: 'health [node]',
  builder: (yargs) =>
    connectionOptions(yargs)
      .positional('node', { type: 'string', describe: 'one node, by name or peer ID' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' })
      .option('reports', {
        type: 'boolean',
        default: false,
        describe: "the node's full monitoring reports (Ganeti mond's /1/report/all), as JSON",
      })
      .option('events', {
        type: 'boolean',
        default: false,
        describe: 'the cluster events gossip brought this node (automatic failovers among them)',
      }),
  handler: async (args) => {
    const call = daemonCall(args);
    if (args.events) {
      const { events } = await call({ op: 'events' });
      if (args.json) process.stdout.write(`${JSON.stringify(events)}\n`);
      else
        process.stdout.write(
          `${renderTable(
            ['Time', 'Event', 'From', 'Payload'],
            events.map((event) => [localTime(event.sentAtMs), event.name, event.from, event.payload]),
          )}\n`,
        );
      return;
    }
    if (args.reports) {
      const { reports } = await call({
        op: 'monitor-reports',
        ...(args.node !== undefined && { node: args.node }),
      });
      process.stdout.write(`${JSON.stringify(reports)}\n`);
      return;
    }
    const { rows } = await call({ op: 'health', ...(args.node !== undefined && { node: args.node }) });
    if (args.json) {
      process.stdout.write(`${JSON.stringify(rows)}\n`);
      return;
    }
    process.stdout.write(`${healthTable(rows)}\n`);
    if (rows.some((row) => row.stale))
      process.stdout.write('stale: not heard from first-hand lately; its figures are as last heard\n');
  },
};
