import { type ConfigData, nodeById } from '../cluster/config.js';
import { type HookResult, hooksProtocol } from '../cluster/node-protocols.js';
import type { Opcode } from '../cluster/opcodes.js';
import { asCorralError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { hookEnvironment, postEnvironment } from '../master/hook-env.js';
import type { HookRunner, NodeHookReport } from '../master/job-queue.js';
import type { HookSpec } from '../master/op-context.js';
import { type Credentials, NO_CREDENTIALS } from '../peer/callers.js';
import type { Transport } from '../peer/transport.js';
import { runHooks } from './hook-scripts.js';

/** Ganeti gives a hook script no time limit of its own; ours is generous but there is one. */
const HOOK_TIMEOUT_MS = 60_000;

/** What running hooks asks of the transport: this node's ID, and requests to the others. */
export type HookTransport = Pick<Transport, 'self' | 'request'>;

export interface ClusterHookRunnerDeps {
  readonly transport: HookTransport;
  readonly hooksDir: string;
  readonly dataDir: string;
  readonly log: Logger;
}

/**
 * Runs an opcode's hooks on the nodes Ganeti's table names, in parallel: here directly, elsewhere through the
 * hooks protocol. A node that cannot be reached does not deny the operation (Ganeti's rule), it is logged.
 */
export class ClusterHookRunner implements HookRunner {
  constructor(
    private readonly deps: ClusterHookRunnerDeps,
    /** What the hooks protocol asks of the caller: the master's term (see peer/callers.ts). */
    private readonly credentials: Credentials = NO_CREDENTIALS,
  ) {}

  /** The same runner, for a master acting in the term its credentials name. */
  asMaster(credentials: Credentials): ClusterHookRunner {
    return new ClusterHookRunner(this.deps, credentials);
  }

  async run(
    spec: HookSpec,
    phase: 'pre' | 'post',
    op: Opcode,
    config: ConfigData,
    signal: AbortSignal,
    after?: HookSpec,
  ): Promise<NodeHookReport[]> {
    const { transport, log } = this.deps;
    const master = config.master === undefined ? undefined : nodeById(config, config.master);
    const environment = (at: 'pre' | 'post', of: HookSpec) =>
      hookEnvironment({
        phase: at,
        hpath: spec.hpath,
        opCode: op.OP_ID,
        objectType: spec.objectType,
        cluster: config.cluster.name,
        master: master?.name ?? '',
        dataDir: this.deps.dataDir,
        target: of.target,
        extra: of.env,
      });
    // Ganeti's post phase sees the pre environment plus the same variables recomputed after the operation.
    const env =
      phase === 'pre'
        ? environment('pre', spec)
        : postEnvironment(environment('pre', spec), environment('post', after ?? spec));
    const nodes = phase === 'pre' ? spec.preNodes : spec.postNodes;
    const perNode = await Promise.all(
      nodes.map(async (id): Promise<NodeHookReport[]> => {
        const name = nodeById(config, id)?.name ?? id;
        try {
          const results =
            id === transport.self
              ? await this.runLocal(spec.hpath, phase, env)
              : (
                  await transport.request(
                    id,
                    hooksProtocol,
                    { hpath: spec.hpath, phase, env },
                    { signal, credentials: this.credentials },
                  )
                ).results;
          return results.map((result) => ({
            node: name,
            script: result.script,
            failed: result.exitCode !== 0,
            output: result.output,
          }));
        } catch (error) {
          log.warn(
            { node: name, hpath: spec.hpath, err: asCorralError(error) },
            'could not run hooks on a node',
          );
          return [];
        }
      }),
    );
    return perNode.flat();
  }

  /** Runs one phase's scripts on this node. */
  async runLocal(hpath: string, phase: 'pre' | 'post', env: Record<string, string>): Promise<HookResult[]> {
    const results = await runHooks({
      hooksDir: this.deps.hooksDir,
      hpath,
      phase,
      env,
      timeoutMs: HOOK_TIMEOUT_MS,
      signal: AbortSignal.timeout(HOOK_TIMEOUT_MS * 4),
    });
    return results.map((result) => ({
      script: result.name,
      ...(result.exitCode !== undefined && { exitCode: result.exitCode }),
      ...(result.signal !== undefined && { signal: result.signal }),
      timedOut: result.timedOut,
      output: result.output,
      durationMs: result.durationMs,
    }));
  }
}
