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
  type EarlierRound,
  type Ranked,
  type SearchStep,
} from './balance.js';
import { chunkCount, chunkRange, claimChunk, newCounter, openRound } from './rank-chunks.js';
import { decodeRanked, encodeRanked, type RankedTable } from './ranked-codec.js';
import { buildState, type LoadOptions } from './state.js';
import type { ClusterSnapshot } from './types.js';

/**
 * Balancing with the rounds' ranking spread over threads (one per core), for large groups: the same rounds
 * as balanceGroup, the same moves and the same scores, since every worker thread replays the main search's
 * steps on its own copy before it ranks, and the ranking's order does not depend on who ranked what. The
 * threads take the round's pool chunk by chunk (see rank-chunks.ts), this thread too.
 */

/** What a ranking thread starts from: the group as buildState makes it, and the chunk counter. */
export interface RankThreadSetup {
  readonly snapshot: ClusterSnapshot;
  readonly loadOptions: LoadOptions;
  readonly groupNodes: readonly number[];
  readonly options: Omit<BalanceOptions, 'shouldStop'>;
  readonly counter: BigInt64Array;
}

/** A round, as sent to every worker thread. */
export interface RankJob {
  readonly round: number;
  readonly steps: readonly SearchStep[];
  readonly pool: readonly number[];
  readonly targets: readonly number[];
  readonly earlier?: EarlierTable;
}

/** An EarlierRound in typed arrays (see ranked-codec.ts): its pool, and the ranked among them. */
export interface EarlierTable {
  readonly targets: readonly number[];
  readonly pool: Int32Array;
  readonly ranked: RankedTable;
}

/** A worker's answer: the instances it ranked in the round, in the chunks it took. */
export interface RankAnswer {
  readonly round: number;
  readonly ranked: RankedTable;
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
  const counter = newCounter();
  const setup: RankThreadSetup = { snapshot, loadOptions, groupNodes, options: plain, counter };
  const workers: RankThread[] = [];
  try {
    // This thread ranks too: it would only wait otherwise, and its copy needs no replaying.
    for (let k = 1; k < threads; k++) workers.push(new RankThread(workerScript, setup));
    const search = new BalanceSearch(state, groupNodes, options);
    const initialScore = search.current;
    const rounds = balanceRounds(search, options);
    for (let round = 1, next = rounds.next(); ; round++) {
      if (next.done) return balanceResult(state, search, initialScore, next.value);
      const { steps, pool, targets, earlier } = next.value;
      openRound(counter, round);
      const job = { round, steps, pool, targets };
      const sent: RankJob = earlier === undefined ? job : { ...job, earlier: encodeEarlier(earlier) };
      for (const worker of workers) worker.send(sent);
      const chunks = chunkCount(pool.length);
      const ranked: Ranked[] = [];
      let own = 0;
      for (
        let chunk = claimChunk(counter, round, chunks);
        chunk >= 0;
        chunk = claimChunk(counter, round, chunks)
      ) {
        own++;
        ranked.push(...rankChunk(search, chunk, next.value));
      }
      // The workers' answers are awaited only when they took chunks; otherwise the event loop still gets
      // a turn, for a failed thread to be noticed.
      if (own < chunks)
        for (const answer of await Promise.all(workers.map((worker) => worker.answer(round))))
          ranked.push(...answer);
      else await new Promise((resolve) => setImmediate(resolve));
      for (const worker of workers) worker.check();
      next = rounds.next(ranked.sort(byScore));
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }
}

/** What ranking a chunk needs of its round. */
export interface ChunkRequest {
  readonly pool: readonly number[];
  readonly targets: readonly number[];
  readonly earlier?: EarlierRound;
}

/** The ranking of one chunk of a round's pool, positions counted in the whole pool. */
export function rankChunk(search: BalanceSearch, chunk: number, request: ChunkRequest): Ranked[] {
  const [start, end] = chunkRange(chunk, request.pool.length);
  const positions = Array.from({ length: end - start }, (_, k) => start + k);
  return search.rank(request.pool.slice(start, end), request.targets, positions, request.earlier);
}

/** The earlier round as sent to the workers. */
export function encodeEarlier(earlier: EarlierRound): EarlierTable {
  const ranked: Ranked[] = [];
  for (const best of earlier.best.values()) if (best !== null) ranked.push(best);
  return {
    targets: earlier.targets,
    pool: Int32Array.from(earlier.best.keys()),
    ranked: encodeRanked(ranked),
  };
}

/** The earlier round as a worker reads it. */
export function decodeEarlier(table: EarlierTable): EarlierRound {
  const best = new Map<number, Ranked | null>(Array.from(table.pool, (idx) => [idx, null]));
  for (const r of decodeRanked(table.ranked)) best.set(r.instance, r);
  return { targets: table.targets, best };
}

/** A ranking thread: it answers every round, in order; an answer nobody asked for is dropped. */
class RankThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<
    number,
    { resolve: (ranked: readonly Ranked[]) => void; reject: (error: Error) => void }
  >();
  private failure: Error | undefined;

  constructor(script: URL, setup: RankThreadSetup) {
    this.worker = new Worker(script, { workerData: setup });
    this.worker.on('message', (answer: RankAnswer) => {
      this.waiting.get(answer.round)?.resolve(decodeRanked(answer.ranked));
      this.waiting.delete(answer.round);
    });
    const fail = (error: Error) => {
      // The first says why: a thread that fails to start also exits.
      this.failure ??= error;
      for (const { reject } of this.waiting.values()) reject(this.failure);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`a balancing thread exited (code ${code})`)));
  }

  send(job: RankJob): void {
    this.check();
    this.worker.postMessage(job);
  }

  /** The thread's answer to a round sent and not yet answered (its answer cannot arrive before this yields). */
  answer(round: number): Promise<readonly Ranked[]> {
    this.check();
    return new Promise((resolve, reject) => {
      this.waiting.set(round, { resolve, reject });
    });
  }

  /** Throws the thread's failure, if it failed. */
  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  async stop(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
