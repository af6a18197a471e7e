/**
 * Corral's allocator against Debian's ganeti-htools 3.0 (hbal, hail) on the same inputs, in the
 * same run: every example file, seeded imbalanced clusters of 100, 500 and 2,000 nodes, and
 * every iallocator request. Progress goes to stderr; the last line of stdout is one JSON object.
 *
 *   npm run bench:alloc -- [--data DIR] [--time-limit SECONDS] [--sizes 100,500,2000] [--converge-limit SECONDS]
 *
 * Both tools get --time-limit on the example files; on the generated clusters Corral runs until it converges
 * (or --converge-limit), with its rounds ranked on one worker thread per core, and `convergence.<size>`
 * reports how long that took.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { defaultBalanceOptions } from '../src/alloc/balance.js';
import { balanceGroupInThreads } from '../src/alloc/balance-threads.js';
import { generateCluster } from '../src/alloc/generate.js';
import { parseIAllocRequest } from '../src/alloc/iallocator/request.js';
import { answerRequest } from '../src/alloc/iallocator/respond.js';
import { scoreBreakdown } from '../src/alloc/metrics.js';
import { applyMove, type Move } from '../src/alloc/moves.js';
import { findViolations } from '../src/alloc/policy.js';
import { buildState, type ClusterState, groupNodes, isFailMode, toSnapshot } from '../src/alloc/state.js';
import { parseTextBackend, serializeTextBackend } from '../src/alloc/text-backend.js';
import type { ClusterSnapshot } from '../src/alloc/types.js';

const argv = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const at = argv.indexOf(name);
  return at >= 0 && argv[at + 1] !== undefined ? (argv[at + 1] as string) : fallback;
};
const dataDir = resolve(option('--data', resolve(process.cwd(), '../shared/reference/htools-data')));
const timeLimitS = Number(option('--time-limit', '120'));
/** Corral's limit on the generated clusters, long enough to see it converge: the time to converge is the figure. */
const convergeLimitS = Number(option('--converge-limit', '600'));
const sizes = option('--sizes', '100,500,2000').split(',').map(Number);
const work = mkdtempSync(join(tmpdir(), 'corral-bench-alloc-'));
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function ensureHtools(): void {
  if (spawnSync('sh', ['-c', 'command -v hbal && test -x /usr/lib/ganeti/iallocators/hail']).status === 0)
    return;
  log('installing ganeti-htools with apt-get');
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  const install = spawnSync('apt-get', ['install', '-y', '-qq', 'ganeti-htools'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (install.status !== 0)
    throw new Error('could not install ganeti-htools; run as root with apt available');
}

interface Run {
  readonly initial: number | null;
  readonly final: number | null;
  readonly moves: number;
  readonly wallMs: number;
  readonly timedOut: boolean;
  readonly stdout: string;
}

/** Runs a program, killing it at the limit but keeping what it printed (hbal prints each step as found). */
function run(
  program: string,
  args: string[],
  limitS: number,
): Promise<{ stdout: string; wallMs: number; timedOut: boolean }> {
  return new Promise((done) => {
    const started = performance.now();
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.resume();
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limitS * 1000);
    child.on('close', () => {
      clearTimeout(timer);
      done({ stdout, wallMs: performance.now() - started, timedOut });
    });
  });
}

const stepLine = /^\s+\d+\.\s+(\S+)\s+\S+\s+=>\s+\S+\s+([\d.]+)\s+a=(.*)$/;

async function hbal(file: string, group: string, extra: string[] = []): Promise<Run> {
  const out = await run('hbal', ['-t', file, '-G', group, '-v', ...extra], timeLimitS);
  const initial = /Initial score: ([\d.]+)/.exec(out.stdout)?.[1];
  const steps = out.stdout.split('\n').filter((l) => stepLine.test(l));
  const last = steps.length > 0 ? stepLine.exec(steps[steps.length - 1] as string)?.[2] : undefined;
  const initialScore = initial === undefined ? null : Number(initial);
  return {
    initial: initialScore,
    final: last === undefined ? initialScore : Number(last),
    moves: steps.length,
    wallMs: out.wallMs,
    timedOut: out.timedOut,
    stdout: out.stdout,
  };
}

/** Replays hbal's printed moves on Corral's model, to check its result with Corral's checker. */
function replayHbal(state: ClusterState, stdout: string): ClusterState | string {
  const nodes = [...state.nodes];
  const instances = [...state.instances];
  const node = (name: string): number => state.nodeByName.get(name) ?? -1;
  for (const line of stdout.split('\n')) {
    const m = stepLine.exec(line);
    if (!m) continue;
    const idx = state.instanceByName.get(m[1] as string);
    if (idx === undefined) return `unknown instance ${m[1]}`;
    const tokens = (m[3] as string).trim().split(' ');
    const target = (t: string | undefined): number => node((t ?? '').split(':')[1] ?? '');
    const shape = tokens.map((t) => t.split(':')[0]).join(' ');
    const moves: Record<string, Move> = {
      f: { kind: 'failover' },
      r: { kind: 'replace-secondary', node: target(tokens[0]) },
      fa: { kind: 'failover-to-any', node: target(tokens[0]) },
      'f r f': { kind: 'replace-primary', node: target(tokens[1]) },
      'r f': { kind: 'replace-and-failover', node: target(tokens[0]) },
      'f r': { kind: 'failover-and-replace', node: target(tokens[1]) },
    };
    const move = moves[shape];
    if (move === undefined) return `unknown move ${m[3]}`;
    const result = applyMove(nodes, instances[idx] as (typeof instances)[number], move, false);
    if (isFailMode(result)) return `hbal's move ${line.trim()} fails in Corral's model: ${result}`;
    for (const [, after] of result.changes) nodes[after.idx] = after;
    instances[idx] = result.instance;
  }
  return { ...state, nodes, instances };
}

function newViolations(before: ClusterState, after: ClusterState, group: number): string[] {
  const key = (v: { node: string; what: string }): string => `${v.node}/${v.what}`;
  const members = (s: ClusterState) =>
    groupNodes(s, group)
      .map((i) => s.nodes[i])
      .filter((n) => n !== undefined);
  const old = new Set(findViolations(members(before), before.instances).map(key));
  return findViolations(members(after), after.instances)
    .map(key)
    .filter((k) => !old.has(k));
}

interface Comparison {
  input: string;
  group: string;
  hbal: {
    initial: number | null;
    final: number | null;
    moves: number;
    wall_ms: number;
    timed_out: boolean;
    new_violations: number;
  };
  corral: {
    initial: number;
    final: number;
    moves: number;
    wall_ms: number;
    new_violations: number;
    /** hbal's own score of Corral's result, re-read from a saved file. */
    hbal_rescore: number | null;
    hbal_bad_nodes_after: number | null;
    /** 1 when the search ended on its own (no move gains more than the minimum), 0 when the limit ended it. */
    converged: number;
  };
}

async function compare(
  input: string,
  snapshot: ClusterSnapshot,
  file: string,
  corralLimitS = timeLimitS,
): Promise<Comparison[]> {
  const state = buildState(snapshot);
  const out: Comparison[] = [];
  for (const g of state.groups) {
    const members = groupNodes(state, g.idx);
    if (members.length === 0 || !state.instances.some((i) => members.includes(i.pNode))) continue;
    const printed = await hbal(file, g.spec.name);
    // hbal flushes its output only with its first move: killed before that, it printed nothing
    // and its cluster is the initial one, whose score (checked equal to hbal's wherever hbal
    // prints it) is Corral's initial score.
    const unprinted = printed.initial === null;
    const initialScore = scoreBreakdown(
      members.map((i) => state.nodes[i]).filter((n) => n !== undefined),
    ).score;
    const h = unprinted ? { ...printed, initial: initialScore, final: initialScore } : printed;
    if (unprinted) log(`  ${input}: hbal printed nothing before its time limit (no move found yet)`);
    const replayed = replayHbal(state, h.stdout);
    const hbalNew = typeof replayed === 'string' ? 1 : newViolations(state, replayed, g.idx).length;
    if (typeof replayed === 'string') log(`  ${input}: ${replayed}`);
    const deadline = performance.now() + corralLimitS * 1000;
    const started = performance.now();
    let limited = false;
    const result = await balanceGroupInThreads(snapshot, {}, members, {
      ...defaultBalanceOptions,
      shouldStop: () => {
        limited ||= performance.now() > deadline;
        return limited;
      },
    });
    const wallMs = performance.now() - started;
    const saved = join(work, `${input}.${g.spec.name}.corral.data`);
    writeFileSync(saved, serializeTextBackend(toSnapshot(result.final)));
    const check = await hbal(saved, g.spec.name, ['-l', '0']);
    const bad = /Initial check done: (\d+) bad nodes/.exec(check.stdout)?.[1];
    const before = await hbal(file, g.spec.name, ['-l', '0']);
    const badBefore = /Initial check done: (\d+) bad nodes/.exec(before.stdout)?.[1];
    const row: Comparison = {
      input,
      group: g.spec.name,
      hbal: {
        initial: h.initial,
        final: h.final,
        moves: h.moves,
        wall_ms: Math.round(h.wallMs),
        timed_out: h.timedOut,
        new_violations: hbalNew,
      },
      corral: {
        initial: result.initialScore,
        final: result.finalScore,
        moves: result.steps.length,
        wall_ms: Math.round(wallMs),
        new_violations:
          newViolations(state, result.final, g.idx).length +
          (bad !== undefined && badBefore !== undefined && Number(bad) > Number(badBefore) ? 1 : 0),
        hbal_rescore: check.initial,
        hbal_bad_nodes_after: bad === undefined ? null : Number(bad),
        converged: limited ? 0 : 1,
      },
    };
    log(
      `${input} [${g.spec.name}]: hbal ${h.initial?.toFixed(8)} -> ${h.final?.toFixed(8)} in ${h.moves} moves, ${row.hbal.wall_ms} ms${h.timedOut ? ' (time limit)' : ''}; corral ${result.initialScore.toFixed(8)} -> ${result.finalScore.toFixed(8)} in ${result.steps.length} moves, ${row.corral.wall_ms} ms; hbal rescores corral's result ${check.initial?.toFixed(8)}`,
    );
    out.push(row);
  }
  return out;
}

/** Canonical JSON: key order does not matter when comparing answers. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

async function main(): Promise<void> {
  ensureHtools();
  const files = readdirSync(dataDir).sort();
  const comparisons: Comparison[] = [];
  const refused: { input: string; reason: string }[] = [];
  for (const name of files.filter((f) => !f.endsWith('.json'))) {
    const file = join(dataDir, name);
    let snapshot: ClusterSnapshot;
    try {
      snapshot = parseTextBackend(readFileSync(file, 'utf8'), name);
    } catch (error) {
      refused.push({ input: name, reason: (error as Error).message });
      log(`${name}: refused by Corral: ${(error as Error).message}`);
      continue;
    }
    comparisons.push(...(await compare(name, snapshot, file)));
  }
  const generated: Comparison[] = [];
  for (const size of sizes) {
    const snapshot = generateCluster({
      nodes: size,
      minInstancesPerNode: 10,
      maxInstancesPerNode: 40,
      seed: size,
    });
    const file = join(work, `generated-${size}.data`);
    writeFileSync(file, serializeTextBackend(snapshot));
    log(
      `generated ${size} nodes, ${snapshot.instances.length} instances, score ${scoreBreakdown(buildState(snapshot).nodes).score.toFixed(4)}`,
    );
    generated.push(...(await compare(`generated-${size}`, snapshot, file, convergeLimitS)));
  }
  const requests = files.filter((f) => f.endsWith('.json'));
  const iallocator: { input: string; hail: unknown; corral: unknown; agree: boolean }[] = [];
  for (const name of requests) {
    const file = join(dataDir, name);
    const hail = await run('/usr/lib/ganeti/iallocators/hail', [file], timeLimitS);
    let hailAnswer: unknown = null;
    try {
      hailAnswer = JSON.parse(hail.stdout);
    } catch {
      hailAnswer = { unparsable: hail.stdout.slice(0, 200) };
    }
    let corral: unknown;
    try {
      corral = answerRequest(parseIAllocRequest(readFileSync(file, 'utf8'), name));
    } catch (error) {
      corral = { refused: (error as Error).message };
    }
    const pick = (a: unknown) => {
      const r = a as { success?: unknown; result?: unknown };
      return canonical({ success: r.success, result: r.result });
    };
    const agree = isDeepStrictEqual(pick(hailAnswer), pick(corral));
    log(`${name}: ${agree ? 'same answer as hail' : 'DIFFERENT from hail'}`);
    iallocator.push({ input: name, hail: hailAnswer, corral, agree });
  }
  const all = [...comparisons, ...generated];
  const worse = all.filter((c) => c.hbal.final !== null && c.corral.final > c.hbal.final + 1e-8);
  const summary = {
    htools: {
      version:
        spawnSync('dpkg-query', ['-W', 'ganeti-htools']).stdout.toString().trim().split('\t')[1] ?? 'unknown',
      time_limit_s: timeLimitS,
      inputs: all.map((c) => ({ input: c.input, group: c.group, ...c.hbal })),
      constraint_violations: all.reduce((s, c) => s + c.hbal.new_violations, 0),
    },
    corral: {
      inputs: all.length + refused.length + requests.length,
      results: all.map((c) => ({ input: c.input, group: c.group, ...c.corral })),
      refused,
      worse_than_hbal: worse.map((c) => `${c.input}/${c.group}`),
      constraint_violations: all.reduce((s, c) => s + c.corral.new_violations, 0),
      iallocator_disagreements: iallocator.filter((r) => !r.agree).map((r) => r.input),
    },
    // Corral runs to convergence here, with a longer limit than hbal's: beside its time, what hbal did
    // within its own limit on the same cluster.
    convergence: Object.fromEntries(
      generated.map((c) => [
        c.input.replace('generated-', ''),
        {
          wall_s: Math.round(c.corral.wall_ms / 100) / 10,
          converged: c.corral.converged,
          moves: c.corral.moves,
          final: c.corral.final,
          threads: availableParallelism(),
          limit_s: convergeLimitS,
          hbal: {
            moves: c.hbal.moves,
            final: c.hbal.final,
            limit_s: timeLimitS,
            timed_out: c.hbal.timed_out,
          },
        },
      ]),
    ),
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:alloc failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
