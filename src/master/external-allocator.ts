import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IAllocRequest } from '../alloc/iallocator/request.js';
import type { AllocatorAnswer } from '../cluster/alloc-answers.js';
import { requiredNodes } from '../cluster/disk-templates.js';
import { CorralError } from '../common/errors.js';

/**
 * Calling an external allocator (e.g. Ganeti's hail) with Ganeti's protocol: the request goes
 * to a temporary file, the program gets its path (plus extra --key=value arguments) and must
 * print `{"success", "info", "result"}`; the result is checked against the request type.
 */

/** Where Ganeti looks for an allocator named without a path, in this order. */
export const IALLOCATOR_SEARCH_PATH: readonly string[] = [
  '/usr/local/lib/ganeti/iallocators',
  '/usr/lib/ganeti/iallocators',
];

/** The program for `-I NAME|PATH`: a path is taken as it is, a bare name is looked up in the search path. */
export async function resolveAllocator(
  name: string,
  searchPath: readonly string[] = IALLOCATOR_SEARCH_PATH,
): Promise<string> {
  const candidates = name.includes('/') ? [name] : searchPath.map((dir) => join(dir, name));
  for (const path of candidates) {
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // Not here, or not executable: try the next.
    }
  }
  throw new CorralError(
    'not_found',
    name.includes('/')
      ? `iallocator ${name} is not an executable file`
      : `no iallocator ${name} in ${searchPath.join(' or ')} (install it there, e.g. Debian's ganeti-htools for hail, or give a path)`,
  );
}

/** How long an allocator program may run before it is killed, unless told otherwise; hail takes a second or two. */
const ALLOCATOR_TIMEOUT_MS = 60_000;

export interface RunOptions {
  readonly args?: readonly string[];
  readonly timeoutMs?: number;
  /** Output beyond this is refused (a runaway allocator must not fill memory). */
  readonly maxOutputBytes?: number;
}

export async function runExternalAllocator(
  program: string,
  message: { readonly request: IAllocRequest } & Record<string, unknown>,
  options: RunOptions = {},
): Promise<AllocatorAnswer> {
  const dir = await mkdtemp(join(tmpdir(), 'corral-ialloc-'));
  const file = join(dir, 'request.json');
  try {
    await writeFile(file, JSON.stringify(message));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        program,
        [file, ...(options.args ?? [])],
        {
          timeout: options.timeoutMs ?? ALLOCATOR_TIMEOUT_MS,
          maxBuffer: options.maxOutputBytes ?? 16 * 1024 * 1024,
        },
        (error, out, err) => {
          if (error) {
            const detail = (err || out).trim().split('\n')[0] || error.message;
            reject(
              new CorralError('unavailable', `iallocator ${program} failed: ${detail}`, { cause: error }),
            );
          } else {
            resolve(out);
          }
        },
      );
    });
    return validateAnswer(program, stdout, message.request);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function validateAnswer(program: string, stdout: string, request: IAllocRequest): AllocatorAnswer {
  const bad = (what: string): never => {
    throw new CorralError('bad_request', `iallocator ${program} gave an invalid answer: ${what}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    return bad('its output is not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return bad('its output is not a JSON object');
  const answer = json as Record<string, unknown>;
  // Ganeti still accepts the legacy key "nodes" for "result".
  const result = 'result' in answer ? answer.result : answer.nodes;
  if (typeof answer.success !== 'boolean') return bad('key success is missing or not a boolean');
  if (typeof answer.info !== 'string') return bad('key info is missing or not a string');
  if (result === undefined) return bad('key result is missing');
  if (answer.success) checkResult(request, result, bad);
  return { success: answer.success, info: answer.info, result };
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function checkResult(request: IAllocRequest, result: unknown, bad: (what: string) => never): void {
  switch (request.type) {
    case 'allocate': {
      const wanted = request.required_nodes ?? requiredNodes(request.disk_template);
      if (!isStringList(result) || result.length !== wanted) bad(`result must list ${wanted} node names`);
      return;
    }
    case 'allocate-secondary':
      if (typeof result !== 'string') bad('result must be one node name');
      return;
    case 'relocate':
      if (!isStringList(result) || result.length !== 1) bad('result must list one node name');
      return;
    case 'multi-allocate':
      if (!Array.isArray(result) || result.length !== 2) bad('result must be [allocated, failed]');
      return;
    case 'node-evacuate':
    case 'change-group': {
      if (!Array.isArray(result) || result.length !== 3) bad('result must be [moved, failed, jobs]');
      const [moved, failed, jobs] = result as [unknown, unknown, unknown];
      if (!Array.isArray(moved) || !Array.isArray(failed) || !Array.isArray(jobs)) {
        bad('moved, failed and jobs must be lists');
      }
      const ops = (jobs as unknown[]).flat();
      const allowed = ['OP_INSTANCE_FAILOVER', 'OP_INSTANCE_MIGRATE', 'OP_INSTANCE_REPLACE_DISKS'];
      for (const op of ops) {
        const id = (op as { OP_ID?: unknown } | null)?.OP_ID;
        if (typeof id !== 'string' || !allowed.includes(id)) bad(`job opcode ${String(id)} is not allowed`);
      }
      return;
    }
  }
}
