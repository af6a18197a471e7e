import { describe, expect, it } from 'vitest';
import type { ConfigData } from '../../src/cluster/config.js';
import { applyMutation, type Mutation } from '../../src/cluster/mutations.js';
import {
  checkOobPayload,
  healthRows,
  type OobCommand,
  parseOobOutput,
  powerRows,
  RS_NODATA,
  RS_NORMAL,
  RS_UNAVAIL,
} from '../../src/cluster/oob.js';
import type { Opcode } from '../../src/cluster/opcodes.js';
import { CorralError } from '../../src/common/errors.js';
import { oobOpDefinitions, oobTargets } from '../../src/master/oob-ops.js';
import type { OobRunner } from '../../src/master/oob-runner.js';
import type { OpContext } from '../../src/master/op-context.js';
import { applyCommand, foundedCluster } from '../helpers/cluster-state.js';

type OobOp = Extract<Opcode, { OP_ID: 'OP_OOB_COMMAND' }>;

/** node1 (the master, peer1), node2 and node10 (offline), in group default; the cluster's oob_program set. */
function config(): ConfigData {
  const state = foundedCluster();
  for (const [n, offline] of [
    [2, false],
    [10, true],
  ] as const)
    applyCommand(state, {
      type: 'config',
      atMs: 2,
      mutation: {
        type: 'node-add',
        uuid: `n-${n}`,
        name: `node${n}`,
        id: `peer${n}`,
        addrs: [`/ip4/127.0.0.${n + 10}/tcp/1`],
        primaryIp: `127.0.0.${n + 10}`,
        secondaryIp: `127.0.0.${n + 10}`,
        group: 'g-default',
        masterCandidate: false,
        masterCapable: true,
        vmCapable: true,
        drained: false,
        offline,
      },
    });
  const base = { ...state.config!, master: state.config!.nodes.get('n-1' as never)!.id };
  return applyMutation(base, { type: 'cluster-set', ndParams: { oob_program: '/oob' } }, 3);
}

const op = (command: OobCommand, node_names: string[] = [], extra: Partial<OobOp> = {}): OobOp => ({
  OP_ID: 'OP_OOB_COMMAND',
  node_names,
  command,
  ...extra,
});

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CorralError);
    return (error as Error).message;
  }
  throw new Error('not refused');
}

describe("the OOB payload check (Ganeti's _CheckPayload)", () => {
  it('takes what each command must print', () => {
    expect(
      checkOobPayload('health', [
        ['psu', 'OK'],
        ['fan', 'CRITICAL'],
      ]),
    ).toEqual([]);
    expect(checkOobPayload('power-status', { powered: false })).toEqual([]);
    for (const command of ['power-on', 'power-off', 'power-cycle'] as const)
      expect(checkOobPayload(command, null)).toEqual([]);
  });

  it('names what is wrong', () => {
    expect(checkOobPayload('health', { psu: 'OK' })).toEqual([
      "command 'health' is expected to return a list but got a dict",
    ]);
    expect(checkOobPayload('health', [['psu', 'FINE'], ['fan']])).toEqual([
      "health item 'psu' has invalid status 'FINE'",
      'health item ["fan"] is not a pair [item, status]',
    ]);
    expect(checkOobPayload('power-status', [true])).toEqual([
      'power-status is expected to return a dict but got a list',
    ]);
    expect(checkOobPayload('power-status', { on: true })).toEqual([
      "power-status is expected to return a dict with a boolean 'powered'",
    ]);
    expect(checkOobPayload('power-on', { done: true })).toEqual([
      'power-on is expected to not return payload but got \'{"done":true}\'',
    ]);
  });

  it("reads the output as Ganeti's node daemon does: nothing is no payload", () => {
    expect(parseOobOutput('')).toEqual({ payload: null });
    expect(parseOobOutput('{"powered": true}\n')).toEqual({ payload: { powered: true } });
    expect(parseOobOutput('on')).toEqual({ error: 'its output is not JSON: on' });
  });

  it("lays out gnt-node health and power's rows", () => {
    const health = healthRows([
      [
        [RS_NORMAL, 'node1'],
        [
          RS_NORMAL,
          [
            ['psu', 'OK'],
            ['fan', 'WARNING'],
          ],
        ],
      ],
      [
        [RS_NORMAL, 'node2'],
        [RS_UNAVAIL, null],
      ],
    ]);
    expect(health).toEqual({
      rows: [
        ['node1', 'psu=OK'],
        ['', 'fan=WARNING'],
        ['node2', '(unavail)'],
      ],
      errors: 1,
    });
    expect(
      powerRows('power-status', [
        [
          [RS_NORMAL, 'node1'],
          [RS_NORMAL, { powered: false }],
        ],
        [
          [RS_NORMAL, 'node2'],
          [RS_NODATA, null],
        ],
      ]),
    ).toEqual({
      rows: [
        ['node1', 'unpowered'],
        ['node2', '(nodata)'],
      ],
      errors: 1,
    });
  });
});

describe("the nodes an OOB command runs on (LUOobCommand's CheckPrereq)", () => {
  it('never powers off or cycles the master, and says how to do it by hand', () => {
    expect(refusal(() => oobTargets(config(), op('power-cycle', ['node1', 'node2'])))).toBe(
      "Operating on the master node node1 is not allowed for power-cycle; run '/oob power-cycle node1' if you want to operate on the master regardless",
    );
    expect(oobTargets(config(), op('power-cycle')).map((n) => n.name)).toEqual(['node2', 'node10']);
    expect(oobTargets(config(), op('health')).map((n) => n.name)).toEqual(['node1', 'node2', 'node10']);
  });

  it('powers off only offline nodes unless told to ignore the status', () => {
    expect(refusal(() => oobTargets(config(), op('power-off', ['node2'])))).toBe(
      'Cannot power off node node2 because it is not marked offline (node modify -O yes, or --ignore-status)',
    );
    expect(oobTargets(config(), op('power-off', ['node10'])).map((n) => n.name)).toEqual(['node10']);
    expect(
      oobTargets(config(), op('power-off', ['node2'], { ignore_status: true })).map((n) => n.name),
    ).toEqual(['node2']);
  });

  it('refuses a node not in the cluster, by its name', () => {
    expect(refusal(() => oobTargets(config(), op('health', ['node9'])))).toBe(
      'node node9 is not in the cluster',
    );
  });
});

describe('OP_OOB_COMMAND on the master', () => {
  /** Runs the opcode with `runner` as the master's process runner; the log and commits are kept. */
  async function run(opcode: OobOp, runner: OobRunner, start = config()) {
    let current = start;
    const log: string[] = [];
    const calls: string[] = [];
    const ctx = {
      config: () => current,
      signal: new AbortController().signal,
      clock: {
        // The opcode's waits pass at once: its timer fires on the next microtask, unless canceled first.
        setTimer: (_ms: number, callback: () => void) => {
          let canceled = false;
          queueMicrotask(() => {
            if (!canceled) callback();
          });
          return {
            cancel: () => {
              canceled = true;
            },
          };
        },
      },
      oob: {
        run: (program, command, node, options) => {
          calls.push(`${program} ${command} ${node}`);
          return runner.run(program, command, node, options);
        },
      } satisfies OobRunner,
      log: (message: string) => log.push(message),
      commit: async (mutation: Mutation) => {
        current = applyMutation(current, mutation, 10);
      },
    } as unknown as OpContext;
    const outcome = await oobOpDefinitions.OP_OOB_COMMAND.run(opcode, ctx);
    return { result: outcome.result, log, calls, config: current };
  }

  const answering = (stdout: string): OobRunner => ({ run: async () => stdout });

  it("runs each node's filled program and returns Ganeti's result shape", async () => {
    const withoutOob = applyMutation(
      config(),
      { type: 'node-set', uuid: 'n-2', changes: { ndParams: { oob_program: '' } }, autoPromote: false },
      4,
    );
    const { result, log, calls } = await run(
      op('health'),
      answering('[["psu","OK"],["disk","CRITICAL"]]'),
      withoutOob,
    );
    expect(calls).toEqual(['/oob health node1', '/oob health node10']);
    expect(result).toEqual([
      [
        [RS_NORMAL, 'node1'],
        [
          RS_NORMAL,
          [
            ['psu', 'OK'],
            ['disk', 'CRITICAL'],
          ],
        ],
      ],
      [
        [RS_NORMAL, 'node2'],
        [RS_UNAVAIL, null],
      ],
      [
        [RS_NORMAL, 'node10'],
        [
          RS_NORMAL,
          [
            ['psu', 'OK'],
            ['disk', 'CRITICAL'],
          ],
        ],
      ],
    ]);
    expect(log).toContain(" - WARNING: Item 'disk' on node 'node1' has status 'CRITICAL'");
  });

  it('records the power state that power-off and power-on set', async () => {
    const off = await run(op('power-off', ['node10']), answering(''));
    expect(off.result).toEqual([
      [
        [RS_NORMAL, 'node10'],
        [RS_NORMAL, null],
      ],
    ]);
    expect(off.config.nodes.get('n-10' as never)!.powered).toBe(false);
    const on = await run(op('power-on', ['node10', 'node2'], { power_delay: 0 }), answering(''), off.config);
    expect(on.calls).toEqual(['/oob power-on node2', '/oob power-on node10']);
    expect(on.config.nodes.get('n-10' as never)!.powered).toBe(true);
  });

  it('gives no data for a node whose program fails or prints what Ganeti refuses, and says why', async () => {
    const failing = await run(op('power-status', ['node2']), {
      run: async () => {
        throw new CorralError('unavailable', "'/oob power-status node2' failed with reason 'exit code 1'");
      },
    });
    expect(failing.result).toEqual([
      [
        [RS_NORMAL, 'node2'],
        [RS_NODATA, null],
      ],
    ]);
    expect(failing.log).toContain(
      " - WARNING: Out-of-band RPC failed on node 'node2': '/oob power-status node2' failed with reason 'exit code 1'",
    );
    const wrong = await run(op('power-status', ['node2']), answering('[]'));
    expect(wrong.result).toEqual([
      [
        [RS_NORMAL, 'node2'],
        [RS_NODATA, null],
      ],
    ]);
    expect(wrong.log).toContain(
      " - WARNING: Payload returned by node 'node2' is not valid: Check of out-of-band payload failed due to power-status is expected to return a dict but got a list",
    );
  });
});
