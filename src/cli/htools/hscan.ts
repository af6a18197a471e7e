import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterScore } from '../../alloc/metrics.js';
import { parseRapiCluster } from '../../alloc/rapi-backend.js';
import { buildState, type ClusterState } from '../../alloc/state.js';
import { badItems } from '../../alloc/summary.js';
import { serializeTextBackend } from '../../alloc/text-backend.js';
import type { ClusterSnapshot } from '../../alloc/types.js';
import { loadExternalData } from './backend.js';
import { defaultOptions, type HtoolsOptions } from './options.js';
import { printNodes } from './print.js';
import { readRapi } from './rapi-source.js';
import { HtoolsExit, type HtoolsTool, type ToolOutput } from './tool.js';

/**
 * hscan: save clusters as htools text files (<output dir>/<name>.data), each read over RAPI (the names
 * given) or, with none, from the local daemon (LOCAL), with a one-line summary each, as Ganeti's
 * Program/Hscan.hs does.
 */
const LOCAL = 'LOCAL';

function summary(state: ClusterState): string {
  const bad = badItems(state, state.nodes);
  const sum = (f: (n: (typeof state.nodes)[number]) => number): number =>
    state.nodes.reduce((t, n) => t + f(n), 0);
  return [
    String(state.nodes.length).padStart(5),
    String(state.instances.length).padStart(5),
    String(bad.nodes.size).padStart(5),
    String(bad.instances).padStart(5),
    sum((n) => n.tMem)
      .toFixed(0)
      .padStart(6),
    String(sum((n) => n.fMem)).padStart(6),
    (sum((n) => n.tDsk) / 1024).toFixed(0).padStart(6),
    String(Math.floor(sum((n) => n.fDsk) / 1024)).padStart(6),
    clusterScore(state.nodes).toFixed(8),
  ].join(' ');
}

function writeCluster(
  o: HtoolsOptions,
  name: string,
  width: number,
  snapshot: ClusterSnapshot,
  io: ToolOutput,
): void {
  const state = buildState(snapshot);
  io.out(`${name.padEnd(width)} ${summary(state)}\n`);
  if (o.showNodes !== undefined)
    io.out(
      printNodes(
        state,
        state.nodes.map((n) => n.idx),
        o.showNodes,
      ),
    );
  writeFileSync(`${join(o.outPath, name.replaceAll('/', '_'))}.data`, serializeTextBackend(snapshot));
}

async function run(o: HtoolsOptions, clusters: readonly string[], io: ToolOutput): Promise<void> {
  const width = Math.max(...(clusters.length === 0 ? [LOCAL] : clusters).map((c) => c.length));
  if (!o.noHeaders)
    io.out(
      `${'Name'.padEnd(width)} ${['Nodes', 'Inst', 'BNode', 'BInst'].map((h) => h.padStart(5)).join(' ')} ${['t_mem', 'f_mem', 't_disk', 'f_disk'].map((h) => h.padStart(6)).join(' ')} ${'Score'.padStart(10)}\n`,
    );
  let failed = false;
  if (clusters.length === 0) {
    const { snapshot } = await loadExternalData({ ...defaultOptions(), luxi: o.luxi ?? '', verbose: 0 }, io);
    writeCluster(o, LOCAL, width, snapshot, io);
  }
  for (const cluster of clusters) {
    try {
      writeCluster(o, cluster, width, parseRapiCluster(await readRapi(cluster)), io);
    } catch (error) {
      io.out(`\nError for ${cluster}: failed to load data. Details:\n${(error as Error).message}\n`);
      failed = true;
    }
  }
  if (failed) throw new HtoolsExit('not every cluster could be read', 2);
}

export const hscan: HtoolsTool = {
  options: ['printNodes', 'outputDir', 'luxi', 'verbose', 'noHeaders', 'staticKvmNodeMemory'],
  arguments: ['host 0 none'],
  run,
};
