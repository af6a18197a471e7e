import { type Opcode, opcodeSchema } from '../../cluster/opcodes.js';
import { RapiError } from './http-error.js';

/**
 * How one Ganeti opcode's RAPI body becomes Corral's opcode. Ganeti validates the body against the opcode's
 * parameters: an unknown key is a 400. Corral knows most of them; the rest are listed with the value that
 * asks for nothing Corral lacks (DNS checks it never does, helper timeouts it has no helper for), so a
 * client that sends Ganeti's defaults works, and one that asks for more is told what is missing.
 */
export interface BodySpec {
  /** Keys passed on as they are, or under Corral's name (`name` → `instance_name`). */
  readonly keys: Readonly<Record<string, string>>;
  /** Ganeti's parameters with no effect here: accepted when the value is one of these (or null). */
  readonly inert?: Readonly<Record<string, 'any' | readonly unknown[]>>;
  /** Values turned into Corral's form before validation (hvparams' numbers and booleans to strings, …). */
  readonly convert?: Readonly<Record<string, (value: unknown) => unknown>>;
}

/** Parameters every Ganeti opcode takes that the RAPI layer handles itself (or that change nothing here). */
const COMMON = new Set(['debug_level', 'priority', 'comment', 'reason']);

/** Ganeti's priority range; the job's priority, not an opcode field here. */
export function priorityOf(body: Readonly<Record<string, unknown>>): number | undefined {
  const priority = body.priority;
  if (priority === undefined || priority === null) return undefined;
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < -20 || priority > 19)
    throw new RapiError(400, "Invalid body parameters: 'priority' is a whole number from -20 to 19");
  return priority;
}

/**
 * Builds the opcode: `fixed` holds what the URL says (the instance, the node), which the body may not
 * repeat; the result is checked against Corral's opcode schema, so a wrong type is a 400 that names it.
 */
export function opcodeFromBody(
  opId: Opcode['OP_ID'],
  fixed: Readonly<Record<string, unknown>>,
  body: Readonly<Record<string, unknown>>,
  spec: BodySpec,
): Opcode {
  const op: Record<string, unknown> = { OP_ID: opId, ...fixed };
  for (const [key, value] of Object.entries(body)) {
    if (COMMON.has(key)) continue;
    // The opcode's schema checks them; the master makes relative job IDs absolute (or refuses them).
    if (key === 'dry_run' || key === 'depends') {
      if (value !== null) op[key] = value;
      continue;
    }
    const target = spec.keys[key];
    if (key in fixed || (target !== undefined && target in fixed))
      throw new RapiError(400, `Parameter '${key}' is fixed by the URL and cannot be given in the body`);
    if (target !== undefined) {
      if (target in op && key !== target)
        throw new RapiError(400, `Parameter '${key}' and '${target}' are the same; give only one`);
      if (value === null) continue;
      op[target] = spec.convert?.[key]?.(value) ?? value;
      continue;
    }
    const inert = spec.inert?.[key];
    if (inert === undefined)
      throw new RapiError(400, `Invalid body parameters: unknown parameter '${key}' for ${opId}`);
    if (inert !== 'any' && value !== null && !inert.some((allowed) => sameValue(allowed, value)))
      throw new RapiError(
        400,
        `Parameter '${key}' of ${opId} is not supported by this cluster with the value ${JSON.stringify(value)}`,
      );
  }
  return validOpcode(op);
}

/** Checks an opcode built by a resource; a refusal names the parameter in Ganeti's words. */
export function validOpcode(op: Record<string, unknown>): Opcode {
  const parsed = opcodeSchema.safeParse(op);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `.${issue.path.join('.')}` : '';
  throw new RapiError(
    400,
    `Invalid body parameters: Parameter '${String(op.OP_ID)}${where}' fails validation: ${issue?.message ?? 'invalid'}`,
  );
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Ganeti's hypervisor and OS parameters are typed; Corral keeps them as the strings the CLI takes. */
export function paramStrings(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => [
      key,
      typeof v === 'boolean' || typeof v === 'number' ? String(v) : v,
    ]),
  );
}
