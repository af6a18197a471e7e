import { randomUUID } from 'node:crypto';
import type { JobView } from '../cluster/job-views.js';
import { MAX_OPS_PER_JOB } from '../cluster/jobs.js';
import type { Opcode } from '../cluster/opcodes.js';
import { asCorralError, CorralError } from '../common/errors.js';
import type { ControlRequest } from '../daemon/control-protocol.js';
import { type DaemonCall, submitJob, watchJob } from '../daemon/job-client.js';
import { JQT_MSGPREFIX } from '../master/test-ops.js';

/**
 * Ganeti's job queue self-test (gnt-debug test-jobqueue), on Corral's queue: submissions the queue must refuse
 * whole, then jobs of OP_TEST_JQUEUE that succeed, succeed twice, fail, and fail half-way, each checked for
 * its log messages (in order, each logged while its opcode ran), its final status, every opcode's status and
 * its results. Ganeti's job dependency tests have nothing to test: Corral jobs have no dependencies.
 */

const delay = (duration = 0): Opcode => ({ OP_ID: 'OP_TEST_DELAY', duration });

function fail(message: string): never {
  throw new CorralError('internal', `job queue test failed: ${message}`);
}

/** Each submission must be refused, and make no job. */
async function testSubmission(call: DaemonCall, say: (line: string) => void): Promise<void> {
  say('Testing job submission');
  const refused: { what: string; priority: number; ops: unknown[] }[] = [
    { what: 'a priority above 19', priority: 20, ops: [delay()] },
    { what: 'a priority below -20', priority: -21, ops: [delay()] },
    { what: 'a job of no opcode', priority: 0, ops: [] },
    {
      what: `a job of ${MAX_OPS_PER_JOB + 1} opcodes`,
      priority: 0,
      ops: Array.from({ length: MAX_OPS_PER_JOB + 1 }, () => delay()),
    },
    {
      what: 'a job with one invalid opcode among valid ones',
      priority: 0,
      ops: [delay(), delay(), delay(-1), delay()],
    },
    { what: 'an unknown opcode', priority: 0, ops: [delay(), { OP_ID: 'OP_NO_SUCH_THING' }] },
  ];
  for (const { what, priority, ops } of refused) {
    // Built as a client with a bug would, past the types: the cluster must check what it is sent.
    const submit = { op: 'submit', key: randomUUID(), priority, ops };
    const request = { op: 'master', request: submit } as unknown as ControlRequest;
    const outcome = await call(request).then(
      () => undefined,
      (error: unknown) => asCorralError(error),
    );
    if (outcome === undefined) fail(`the queue took ${what}, which it must refuse`);
    // Refused as a request of the wrong shape (bad_frame) or as a bad request: not as a cluster that is down.
    if (outcome.code !== 'bad_frame' && outcome.code !== 'bad_request')
      fail(`submitting ${what} failed, but not as invalid: ${outcome.message}`);
  }
  say('Job submission tests were successful');
}

interface Mode {
  readonly title: string;
  readonly fails: readonly boolean[];
  /** How many opcodes log their messages: those that run. */
  readonly logging: number;
  readonly opStatus: readonly string[];
}

const modes: readonly Mode[] = [
  { title: 'Testing job success', fails: [false], logging: 1, opStatus: ['success'] },
  {
    title: 'Testing multiple successful opcodes',
    fails: [false, false],
    logging: 2,
    opStatus: ['success', 'success'],
  },
  { title: 'Testing job failure', fails: [true], logging: 1, opStatus: ['error'] },
  {
    title: 'Testing partial job failure',
    fails: [false, false, true, false],
    logging: 3,
    opStatus: ['success', 'success', 'error', 'error'],
  },
];

/** Which opcode was running when the entry was logged; -1 for none. */
function runningAt(job: JobView, tsMs: number): number {
  return job.ops.findIndex(
    (op) => op.startMs !== undefined && op.startMs <= tsMs && (op.endMs === undefined || tsMs <= op.endMs),
  );
}

async function testMode(
  call: DaemonCall,
  priority: number,
  mode: Mode,
  index: number,
  say: (line: string) => void,
): Promise<void> {
  say(mode.title);
  const messages = [
    `Testing mode ${index}`,
    'Hello World',
    'A',
    '',
    'B',
    'Foo|bar|baz',
    new Date().toISOString(),
  ];
  const ops: Opcode[] = mode.fails.map((failing) => ({
    OP_ID: 'OP_TEST_JQUEUE',
    notify_waitlock: true,
    notify_exec: true,
    log_messages: messages,
    fail: failing,
  }));
  const id = await submitJob(call, ops, priority);
  const received: { message: string; tsMs: number }[] = [];
  const job = await watchJob(call, id, (entry) => {
    if (entry.message.startsWith(JQT_MSGPREFIX))
      received.push({ message: entry.message.slice(JQT_MSGPREFIX.length), tsMs: entry.tsMs });
  });
  const failing = mode.fails.includes(true);
  const expected = Array.from({ length: mode.logging }, () => messages).flat();
  const got = received.map((entry) => entry.message);
  if (JSON.stringify(got) !== JSON.stringify(expected))
    fail(
      `job ${id}: its test messages ${JSON.stringify(got)} are not those sent ${JSON.stringify(expected)}`,
    );
  const notRunning = received.find((entry) => runningAt(job, entry.tsMs) < 0);
  if (notRunning !== undefined)
    fail(`job ${id}: message "${notRunning.message}" was logged while no opcode ran`);
  const status = failing ? 'error' : 'success';
  if (job.status !== status) fail(`job ${id} ended ${job.status}, not ${status} as expected`);
  const opStatus = job.ops.map((op) => op.status);
  if (JSON.stringify(opStatus) !== JSON.stringify(mode.opStatus))
    fail(`job ${id}: its opcodes ended ${opStatus.join(', ')}, not ${mode.opStatus.join(', ')}`);
  if (!failing) {
    const results = job.ops.map((op) => op.result);
    if (results.length !== ops.length || results.some((result) => result !== true))
      fail(`job ${id}: results ${JSON.stringify(results)}, expected ${ops.length} times true`);
  }
}

/** Runs every test; throws, saying what went wrong, at the first that fails. */
export async function testJobQueue(
  call: DaemonCall,
  priority: number,
  say: (line: string) => void,
): Promise<void> {
  await testSubmission(call, say);
  say('Skipping the job dependency tests: Corral jobs have no dependencies');
  for (const [index, mode] of modes.entries()) await testMode(call, priority, mode, index, say);
  say('Job queue test successful');
}
