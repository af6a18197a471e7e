/**
 * Ganeti's out-of-band management (design-oob): the master runs a node's oob_program as
 * `<program> <command> <node name>` and reads its JSON output. What a command must print, and the shape
 * of OpOobCommand's result, as pure functions.
 */

export const oobCommands = ['power-on', 'power-off', 'power-cycle', 'power-status', 'health'] as const;
export type OobCommand = (typeof oobCommands)[number];

/** Ganeti's OOB_STATUSES: the status of one health item. */
export const oobStatuses = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

/** Ganeti's OOB_TIMEOUT (seconds a program may run) and OOB_POWER_DELAY (seconds between power-ons). */
export const OOB_TIMEOUT_S = 60;
export const OOB_POWER_DELAY_S = 2;

/** Commands never run on the master unless it is the whole point (Ganeti's _SKIP_MASTER). */
export const oobSkipMaster: readonly OobCommand[] = ['power-off', 'power-cycle'];

/** Ganeti's query result statuses (RS_*) as OpOobCommand's result carries them. */
export const RS_NORMAL = 0;
export const RS_UNKNOWN = 1;
export const RS_NODATA = 2;
export const RS_UNAVAIL = 3;
export const RS_OFFLINE = 4;

/** One node's entry in the result: `[[RS_NORMAL, name], [status, payload]]`, as Ganeti returns it. */
export type OobNodeResult = [[number, string], [number, unknown]];

/** Ganeti's RSS_DESCRIPTION, the verbose text: what the CLI prints for a node without data. */
export function resultErrorText(status: number): string {
  return (
    {
      [RS_UNKNOWN]: '(unknown)',
      [RS_NODATA]: '(nodata)',
      [RS_UNAVAIL]: '(unavail)',
      [RS_OFFLINE]: '(offline)',
    }[status] ?? `(status ${status})`
  );
}

/** The program's standard output as Ganeti's node daemon reads it: nothing is no payload, else JSON. */
export function parseOobOutput(stdout: string): { payload: unknown } | { error: string } {
  if (stdout === '') return { payload: null };
  try {
    return { payload: JSON.parse(stdout) as unknown };
  } catch {
    return { error: `its output is not JSON: ${stdout.trim().slice(0, 200)}` };
  }
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a dict' : `a ${typeof value}`;
}

/**
 * Ganeti's LUOobCommand._CheckPayload: health is a list of [item, status] with known statuses,
 * power-status a dict (with `powered`, which Ganeti reads), the power changes print nothing. Returns the
 * faults, none when the payload is valid.
 */
export function checkOobPayload(command: OobCommand, payload: unknown): string[] {
  const errors: string[] = [];
  if (command === 'health') {
    if (!Array.isArray(payload))
      errors.push(`command 'health' is expected to return a list but got ${kind(payload)}`);
    else
      for (const entry of payload) {
        if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string')
          errors.push(`health item ${JSON.stringify(entry)} is not a pair [item, status]`);
        else if (!(oobStatuses as readonly unknown[]).includes(entry[1]))
          errors.push(`health item '${entry[0]}' has invalid status '${String(entry[1])}'`);
      }
  }
  if (command === 'power-status') {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
      errors.push(`power-status is expected to return a dict but got ${kind(payload)}`);
    else if (typeof (payload as Record<string, unknown>).powered !== 'boolean')
      errors.push("power-status is expected to return a dict with a boolean 'powered'");
  }
  if ((command === 'power-on' || command === 'power-off' || command === 'power-cycle') && payload !== null)
    errors.push(`${command} is expected to not return payload but got '${JSON.stringify(payload)}'`);
  return errors;
}

/** The health items in WARNING or CRITICAL, which Ganeti logs. */
export function alarmingHealth(payload: readonly (readonly [string, string])[]): [string, string][] {
  return payload
    .filter(([, status]) => status === 'WARNING' || status === 'CRITICAL')
    .map(([a, b]) => [a, b]);
}

/** gnt-node health's rows: the node with its first item, then one row per further item. */
export function healthRows(result: readonly OobNodeResult[]): { rows: string[][]; errors: number } {
  const rows: string[][] = [];
  let errors = 0;
  for (const [[, name], [status, payload]] of result) {
    if (status !== RS_NORMAL) {
      errors++;
      rows.push([name, resultErrorText(status)]);
      continue;
    }
    const items = payload as [string, string][];
    items.forEach(([item, itemStatus], i) => {
      rows.push([i === 0 ? name : '', `${item}=${itemStatus}`]);
    });
  }
  return { rows, errors };
}

/** gnt-node power's rows: `powered`/`unpowered` for status, `invoked` for the others. */
export function powerRows(
  command: OobCommand,
  result: readonly OobNodeResult[],
): { rows: string[][]; errors: number } {
  const rows: string[][] = [];
  let errors = 0;
  for (const [[, name], [status, payload]] of result) {
    if (status !== RS_NORMAL) {
      errors++;
      rows.push([name, resultErrorText(status)]);
    } else if (command === 'power-status')
      rows.push([name, (payload as { powered: boolean }).powered ? 'powered' : 'unpowered']);
    else rows.push([name, 'invoked']);
  }
  return { rows, errors };
}
