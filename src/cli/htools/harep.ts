import { randomUUID } from 'node:crypto';
import {
  detectBroken,
  type InstanceRepair,
  initialRepairState,
  moveTo,
  repairPolicy,
  repairTypes,
  showPolicy,
  showRepairType,
  stateCounts,
  stateName,
  withTag,
} from '../../alloc/autorepair.js';
import type { Opcode } from '../../cluster/opcodes.js';
import { type DaemonCall, jobFailure, submitJob, watchJob } from '../../daemon/job-client.js';
import { loadExternalData } from './backend.js';
import type { HtoolsOptions } from './options.js';
import { exitErr, type HtoolsTool, type ToolOutput } from './tool.js';

/**
 * harep: repairs the instances of the local cluster that auto-repair tags allow, as Ganeti's
 * Program/Harep.hs does. First the repairs still pending are checked and their tags moved to a result; then
 * each healthy instance found broken (its node offline) gets its repair jobs, an autorepair:pending tag
 * naming them, or an enoperm result when its policy does not allow that much. --dry-run changes nothing.
 */

interface Harep {
  readonly o: HtoolsOptions;
  readonly call: DaemonCall;
  readonly io: ToolOutput;
  readonly nowS: () => number;
}

/** harep's entry in each opcode's reason trail, as Ganeti's: its --reason, or that harep called. */
function withReason(h: Harep, ops: readonly Opcode[]): Opcode[] {
  const entry: [string, string, number] = ['harep', h.o.reason ?? 'harep called', Date.now() / 1000];
  return ops.map((op) => ({ ...op, reason: [...(op.reason ?? []), entry] }) as Opcode);
}

async function runAndWait(h: Harep, ops: readonly Opcode[]): Promise<void> {
  if (h.o.dryRun) return;
  const view = await watchJob(h.call, await submitJob(h.call, withReason(h, ops)));
  const failure = jobFailure(view);
  if (failure !== undefined) exitErr(failure.message);
}

/** Writes the current status's tag and removes the replaced ones (Ganeti's commitChange). */
async function commitChange(h: Harep, repair: InstanceRepair): Promise<InstanceRepair> {
  const name = repair.instance.name;
  const tag = repair.status.data?.tag;
  if (tag !== undefined) {
    h.io.out(`>>> Adding the following tag to ${name}:\n${JSON.stringify(tag)}\n`);
    await runAndWait(h, [{ OP_ID: 'OP_TAGS_SET', kind: 'instance', name, tags: [tag] }]);
  }
  if (repair.tagsToRemove.length > 0) {
    h.io.out(
      `>>> Removing the following tags from ${name}:\n${repair.tagsToRemove.map((t) => `${JSON.stringify(t)}\n`).join('')}`,
    );
    await runAndWait(h, [{ OP_ID: 'OP_TAGS_DEL', kind: 'instance', name, tags: [...repair.tagsToRemove] }]);
  }
  return { ...repair, tagsToRemove: [] };
}

/** A pending repair whose jobs all ended becomes a success or a failure (Ganeti's processPending). */
async function processPending(h: Harep, repair: InstanceRepair): Promise<InstanceRepair> {
  if (repair.status.kind !== 'pending') return repair;
  const data = repair.status.data;
  const jobs = (await h.call({ op: 'jobs', ids: [...data.jobs], consistent: true })).jobs as {
    id: number;
    status: string;
  }[];
  const statuses = data.jobs.map((id) => jobs.find((j) => j.id === id)?.status);
  if (statuses.some((s) => s === 'queued' || s === 'waiting' || s === 'running')) return repair;
  const success = statuses.every((s) => s === 'success');
  const ended = withTag({ ...data, result: success ? 'success' : 'failure', timeS: h.nowS() });
  const next = moveTo(repair, success ? { kind: 'healthy', data: ended } : { kind: 'failed', data: ended });
  h.io.out(
    `Moving ${repair.instance.name} from ${JSON.stringify(stateName(repair.status))} to ${JSON.stringify(stateName(next.status))}\n`,
  );
  return commitChange(h, next);
}

/** Submits the repair if the instance's policy allows it, else records that it did not (Ganeti's doRepair). */
async function doRepair(
  h: Harep,
  repair: InstanceRepair,
  policy: ReturnType<typeof repairPolicy>,
  broken: NonNullable<ReturnType<typeof detectBroken>>,
): Promise<InstanceRepair> {
  const name = repair.instance.name;
  if (policy.kind !== 'enabled') {
    h.io.out(`Not repairing ${name} because it's in state ${showPolicy(policy)}\n`);
    return repair;
  }
  const base = { type: broken.type, uuid: randomUUID(), timeS: h.nowS() };
  if (repairTypes.indexOf(broken.type) > repairTypes.indexOf(policy.upTo)) {
    h.io.out(
      `Not performing a repair of type ${showRepairType(broken.type)} on ${name} because only repairs up to ${showRepairType(policy.upTo)} are allowed\n`,
    );
    const refused = withTag({ ...base, jobs: [], result: 'enoperm' });
    return commitChange(h, moveTo(repair, { kind: 'needs-repair', data: refused }));
  }
  h.io.out(`Executing ${showRepairType(broken.type)} repair on ${name}\n`);
  // The delay lets the pending tag's job end before the repair takes the instance's locks (as Ganeti's).
  const ops: Opcode[] = [
    ...(h.o.jobDelay > 0
      ? [{ OP_ID: 'OP_TEST_DELAY' as const, duration: h.o.jobDelay, on_master: true }]
      : []),
    ...broken.ops,
  ];
  let jobs: number[] = [];
  if (h.o.dryRun) h.io.out(`jobs: ${JSON.stringify([ops])}\n`);
  else jobs = [await submitJob(h.call, withReason(h, ops))];
  const pending = withTag({ ...base, jobs, result: undefined });
  return commitChange(h, moveTo(repair, { kind: 'pending', data: pending }));
}

async function run(o: HtoolsOptions, args: readonly string[], io: ToolOutput): Promise<void> {
  if (args.length > 0) exitErr("this program doesn't take any arguments.");
  if (o.jobDelay < 0) exitErr('the job delay must be 0 or more seconds');
  const data = await loadExternalData({ ...o, luxi: o.luxi ?? '' }, io);
  // With -L set, the loader reads the cluster from its daemon: this narrows the type.
  if (data.source.kind !== 'live') return exitErr('harep works on the live cluster only');
  const h: Harep = { o, call: data.source.call, io, nowS: () => Math.floor(Date.now() / 1000) };
  const { state } = data;
  let repairs: InstanceRepair[];
  try {
    repairs = state.instances.map(initialRepairState);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return exitErr(`when parsing auto-repair tags: ${error.message}`);
  }
  const checked: InstanceRepair[] = [];
  for (const repair of repairs) checked.push(await processPending(h, repair));
  const done: InstanceRepair[] = [];
  for (const repair of checked) {
    const broken = detectBroken(state, repair.instance);
    done.push(
      broken !== undefined && repair.status.kind === 'healthy'
        ? await doRepair(h, repair, repairPolicy(state, repair.instance, h.nowS()), broken)
        : repair,
    );
  }
  io.out('---------------------\nInstance status count\n---------------------\n');
  io.out(
    stateCounts(done)
      .map((line) => `${line}\n`)
      .join(''),
  );
}

export const harep: HtoolsTool = {
  options: ['luxi', 'jobDelay', 'reason', 'dryRun'],
  arguments: [],
  run,
};
