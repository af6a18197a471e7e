import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  type BalanceOptions,
  type BalanceResult,
  BalanceSearch,
  balanceGroup,
  balanceResult,
  balanceRounds,
  byScore,
  defaultBalanceOptions,
  type Ranked,
  type SearchStep,
} from './balance.js';
import { buildState, type LoadOptions } from './state.js';
import type { ClusterSnapshot } from './types.js';

/**
 * Balancing with the rounds' ranking spread over worker threads (one per core), for large groups: the same
 * rounds as balanceGroup, the same moves and the same scores, since every thread replays the main search's
 * steps on its own copy before it ranks its share.
 */

/** What a ranking thread starts from: the group as buildState makes it. */
export interface RankThreadSetup {
  readonly snapshot: ClusterSnapshot;
  readonly loadOptions: LoadOptions;
  readonly groupNodes: readonly number[];
  readonly options: Omit<BalanceOptions, 'shouldStop'>;
}

/** One thread's share of a round. */
export interface RankJob {
  readonly steps: readonly SearchStep[];
  readonly pool: readonly number[];
  readonly positions: readonly number[];
  readonly targets: readonly number[];
}

/** Below this many instance × node pairs, starting threads costs more than it saves. */
const THREADED_PAIRS = 20_000;

export async function balanceGroupInThreads(
  snapshot: ClusterSnapshot,
  loadOptions: LoadOptions,
  groupNodes: readonly number[],
  options: BalanceOptions = defaultBalanceOptions,
  threads = availableParallelism(),
  workerScript = new URL('./balance-worker.js', import.meta.url),
): Promise<BalanceResult> {
  const state = buildState(snapshot, loadOptions);
  const members = new Set(groupNodes);
  const instances = state.instances.filter((i) => members.has(i.pNode)).length;
  if (threads < 2 || instances * groupNodes.length < THREADED_PAIRS)
    return balanceGroup(state, groupNodes, options);

  const { shouldStop: _, ...plain } = options;
  const setup: RankThreadSetup = { snapshot, loadOptions, groupNodes, options: plain };
  const workers: RankThread[] = [];
  try {
    for (let k = 0; k < threads; k++) workers.push(new RankThread(workerScript, setup));
    const search = new BalanceSearch(state, groupNodes, options);
    const initialScore = search.current;
    const rounds = balanceRounds(search, options);
    for (let next = rounds.next(); ; ) {
      if (next.done) return balanceResult(state, search, initialScore, next.value);
      const { steps, pool, targets } = next.value;
      // Dealt round-robin: the pool comes ordered by instance, and neighbours cost alike.
      const shares = await Promise.all(
        workers.map((worker, k) => {
          const positions = pool.flatMap((_, i) => (i % threads === k ? [i] : []));
          return worker.rank({ steps, pool: positions.map((i) => pool[i] as number), positions, targets });
        }),
      );
      next = rounds.next(shares.flat().sort(byScore));
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }
}

/** A ranking thread: one job at a time, answered in order. */
class RankThread {
  private readonly worker: Worker;
  private pending: { resolve: (ranked: Ranked[]) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(script: URL, setup: RankThreadSetup) {
    this.worker = new Worker(script, { workerData: setup });
    this.worker.on('message', (ranked: Ranked[]) => {
      const pending = this.pending;
      this.pending = undefined;
      pending?.resolve(ranked);
    });
    const fail = (error: Error) => {
      this.failure = error;
      this.pending?.reject(error);
      this.pending = undefined;
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`a balancing thread exited (code ${code})`)));
  }

  rank(job: RankJob): Promise<Ranked[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(job);
    });
  }

  async stop(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
