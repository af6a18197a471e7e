import type { CommandModule } from 'yargs';
import { callDaemon, controlSocketPath } from '../../daemon/control-client.js';
import { renderTable } from '../table.js';

interface StatusArgs {
  socket?: string;
  'data-dir'?: string;
  json: boolean;
}

export const statusCommand: CommandModule<object, StatusArgs> = {
  command: 'status',
  builder: (yargs) =>
    yargs
      .option('socket', { type: 'string', describe: 'control socket path' })
      .option('data-dir', { type: 'string' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' }),
  handler: async (args) => {
    const status = await callDaemon(controlSocketPath({ socket: args.socket, dataDir: args['data-dir'] }), {
      op: 'status',
    });
    if (args.json) {
      process.stdout.write(`${JSON.stringify(status)}\n`);
      return;
    }
    const lines = [
      `Node ${status.name} (${status.nodeId}), Corral ${status.version}, up ${Math.round(status.uptimeMs / 1000)} s`,
      `Listening on ${status.addresses.join(', ')}`,
      '',
      renderTable(
        ['Member', 'Connected', 'Addresses'],
        status.members.map((member) => [member.id, member.connected ? 'Y' : 'N', member.addrs.join(',')]),
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};
