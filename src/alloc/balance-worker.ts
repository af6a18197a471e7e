import { parentPort, workerData } from 'node:worker_threads';
import { BalanceSearch } from './balance.js';
import type { RankJob, RankThreadSetup } from './balance-threads.js';
import { buildState } from './state.js';

/**
 * A ranking thread of a balancing run: it builds the same group as the main thread, replays the main
 * search's steps before each round and ranks its share of the round's pool.
 */
const setup = workerData as RankThreadSetup;
const search = new BalanceSearch(
  buildState(setup.snapshot, setup.loadOptions),
  setup.groupNodes,
  setup.options,
);
parentPort?.on('message', (job: RankJob) => {
  search.replay(job.steps);
  parentPort?.postMessage(search.rank(job.pool, job.targets, job.positions));
});
