import { afterAll, beforeAll } from 'vitest';
import { rapiContext } from '../../../src/api/rapi/context.js';
import { createRapiServer } from '../../../src/api/rapi/server.js';
import { parseUsers } from '../../../src/api/rapi/users.js';
import type { Opcode } from '../../../src/cluster/opcodes.js';
import type { ConfigView } from '../../../src/cluster/views.js';
import { silentLogger } from '../../../src/common/log.js';
import type { ControlRequest } from '../../../src/daemon/control-protocol.js';
import type { DaemonCall } from '../../../src/daemon/job-client.js';
import { live } from '../../cluster/query/fixture.js';

/**
 * A RAPI server in process over a fake daemon that answers from `config` (and the query fixture's live
 * view) and records each job submitted (answered as job 42). Users: admin (write) and reader (read), both
 * with password pw. Call it inside a describe: it starts and closes the server around the tests there.
 */
export function rapiOnFakeDaemon(config: ConfigView) {
  const submitted: Opcode[][] = [];
  const call = (async (request: ControlRequest) => {
    if (request.op === 'config') return { config, self: 'peer1' };
    if (request.op === 'nodes-live') return { nodes: live };
    if (request.op === 'master' && request.request.op === 'submit') {
      submitted.push(request.request.ops);
      return { job: 42 };
    }
    throw new Error(`unexpected ${request.op}`);
  }) as DaemonCall;
  const app = createRapiServer({
    context: rapiContext(call),
    users: async () => parseUsers('admin pw write\nreader pw read\n'),
    log: silentLogger,
  });
  beforeAll(() => app.ready());
  afterAll(() => app.close());
  return { app, submitted };
}
