import { tmpdir } from 'node:os';
import type { ZodType } from 'zod';
import type { MasterWorld } from '../../simulations/master-world.js';
import { CorralError } from '../../src/common/errors.js';
import type { NodeId } from '../../src/common/ids.js';
import { clusterControls } from '../../src/daemon/cluster-controls.js';
import { controlRequestSchema } from '../../src/daemon/control-protocol.js';
import { controlResponseSchemas } from '../../src/daemon/control-replies.js';
import type { DaemonCall } from '../../src/daemon/job-client.js';
import { defaultControlTimings } from '../../src/master/timings.js';
import { checkShape } from '../../src/peer/codec.js';

/**
 * The local daemon as a CLI command reaches it, played by the control handlers of a node of a simulated
 * cluster: requests and answers are checked against the control protocol as the socket checks them, and the
 * simulated clock runs while each call is answered.
 */
export function simDaemonCall(world: MasterWorld, via: NodeId): DaemonCall {
  const handlers = clusterControls({
    self: via,
    cluster: world.machine(via).service!,
    agent: {} as never,
    consoleDir: tmpdir(),
    timings: defaultControlTimings,
  }) as Record<string, (request: unknown) => Promise<unknown>>;
  return async (request) => {
    const checked = checkShape(request, controlRequestSchema);
    const handler = handlers[checked.op];
    if (handler === undefined) throw new CorralError('bad_request', `no handler for ${checked.op}`);
    const answer = await world.settle(handler(checked), 600_000);
    return checkShape(answer, controlResponseSchemas[checked.op] as ZodType) as never;
  };
}
