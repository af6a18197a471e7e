import { untilAborted } from '../src/common/abort.js';
import { ControlConnection } from '../src/daemon/control-client.js';
import type { ControlRequest } from '../src/daemon/control-protocol.js';
import type { ControlResponse } from '../src/daemon/control-replies.js';

/**
 * Keep-alive connections to one daemon's control socket, as an HTTP client keeps its connections to a server
 * (etcd's clients do): a call takes an idle connection or opens one, and gives it back once answered.
 */
export class ControlPool {
  private readonly idle: ControlConnection[] = [];

  constructor(private readonly path: string) {}

  async call<R extends ControlRequest>(request: R, signal?: AbortSignal): Promise<ControlResponse<R['op']>> {
    const connection = this.idle.pop() ?? (await ControlConnection.open(this.path));
    try {
      const answer = await untilAborted(connection.call(request), signal);
      this.idle.push(connection);
      return answer;
    } catch (error) {
      // An answer still to come, or a broken connection, must not meet the next caller.
      connection.close();
      throw error;
    }
  }

  close(): void {
    for (const connection of this.idle.splice(0)) connection.close();
  }
}
