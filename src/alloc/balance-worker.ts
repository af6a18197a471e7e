import { parentPort, workerData } from 'node:worker_threads';
import { BalanceSearch, type Ranked } from './balance.js';
import {
  type ChunkRequest,
  decodeEarlier,
  type RankAnswer,
  type RankJob,
  type RankThreadSetup,
  rankChunk,
} from './balance-threads.js';
import { chunkCount, claimChunk } from './rank-chunks.js';
import { encodeRanked } from './ranked-codec.js';
import { buildState } from './state.js';

/**
 * A ranking thread of a balancing run: it builds the same group as the main thread, replays the main
 * search's steps of each round and ranks the chunks of the round's pool it gets to take.
 */
const setup = workerData as RankThreadSetup;
const search = new BalanceSearch(
  buildState(setup.snapshot, setup.loadOptions),
  setup.groupNodes,
  setup.options,
);
parentPort?.on('message', (job: RankJob) => {
  search.replay(job.steps);
  const chunks = chunkCount(job.pool.length);
  const ranked: Ranked[] = [];
  let request: ChunkRequest | undefined;
  for (
    let chunk = claimChunk(setup.counter, job.round, chunks);
    chunk >= 0;
    chunk = claimChunk(setup.counter, job.round, chunks)
  ) {
    // The earlier round's results are read only by a worker that gets a chunk.
    request ??= {
      pool: job.pool,
      targets: job.targets,
      ...(job.earlier === undefined ? {} : { earlier: decodeEarlier(job.earlier) }),
    };
    ranked.push(...rankChunk(search, chunk, request));
  }
  const answer: RankAnswer = { round: job.round, ranked: encodeRanked(ranked) };
  parentPort?.postMessage(answer);
});
