import { constants, type Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CorralError } from '../common/errors.js';

/**
 * Ganeti's guest OS definitions (OS interface API 20, with 15 and 10): a directory per OS under one of the
 * search-path dirs, holding `ganeti_api_version`, the scripts and their lists. Existing definitions work
 * unchanged. This module finds and checks them; os-scripts.ts builds their environment and runs them.
 */

/** Ganeti's default OS search path, tried in order: the first dir holding a name wins. */
export const DEFAULT_OS_SEARCH_PATH: readonly string[] = [
  '/srv/ganeti/os',
  '/usr/local/lib/ganeti/os',
  '/usr/lib/ganeti/os',
  '/usr/share/ganeti/os',
];

/** The API versions Corral speaks, newest first, as Ganeti 3.0 does. */
export const SUPPORTED_OS_API_VERSIONS: readonly number[] = [20, 15, 10];

export interface OsDefinition {
  readonly name: string;
  /** The OS directory. */
  readonly dir: string;
  /** As ganeti_api_version lists them, newest first. */
  readonly apiVersions: readonly number[];
  /** The highest version both sides speak; OS_API_VERSION in the scripts' environment. */
  readonly apiVersion: number;
  /** From variants.list (API 15 and up); empty when the OS has none. */
  readonly variants: readonly string[];
  /** From parameters.list (API 20). */
  readonly parameters: readonly { readonly name: string; readonly description: string }[];
}

export type OsDiagnosis =
  | { readonly name: string; readonly dir: string; readonly valid: true; readonly os: OsDefinition }
  | { readonly name: string; readonly dir: string; readonly valid: false; readonly reason: string };

const API_VERSION_FILE = 'ganeti_api_version';
const VARIANTS_FILE = 'variants.list';
const PARAMETERS_FILE = 'parameters.list';
/** Ganeti's names; `create_untrusted` runs in Ganeti's install helper VM, for OSes not trusted on the node. */
const CREATE = 'create';
const CREATE_UNTRUSTED = 'create_untrusted';
/** A text file of definitions is read whole; none of them is anywhere near this. */
const TEXT_FILE_CAP_BYTES = 64 * 1024;

/**
 * Every OS found on the search path, valid or not (with the reason), one per name: a name found in an
 * earlier dir hides the same name further on, as Ganeti's search does. Missing search dirs are skipped.
 */
export async function diagnoseOses(searchPath: readonly string[]): Promise<OsDiagnosis[]> {
  const seen = new Set<string>();
  const result: OsDiagnosis[] = [];
  for (const base of searchPath) {
    for (const name of await osDirNames(base)) {
      if (seen.has(name)) continue;
      seen.add(name);
      result.push(await diagnoseOs(name, join(base, name)));
    }
  }
  return result;
}

/**
 * The OS named by `name` or `name+variant`, with the variant to use: the given one, or the first of
 * variants.list. Refuses an unknown OS and an invalid one (with the reason); which variants an instance may
 * use is the master's check (instance add, reinstall and modify), which --force-variant skips.
 */
export async function loadOs(
  searchPath: readonly string[],
  osName: string,
): Promise<{ readonly os: OsDefinition; readonly variant: string | undefined }> {
  const plus = osName.indexOf('+');
  const name = plus === -1 ? osName : osName.slice(0, plus);
  const variant = plus === -1 ? undefined : osName.slice(plus + 1);
  if (!isOsName(name))
    throw new CorralError(
      'bad_request',
      `${JSON.stringify(osName)} is not an OS name; use NAME or NAME+VARIANT`,
    );
  const dir = await findOsDir(searchPath, name);
  if (dir === undefined)
    throw new CorralError(
      'not_found',
      `OS ${name} is not installed on this node (searched ${searchPath.join(', ')}); install it on every node`,
    );
  const diagnosis = await diagnoseOs(name, dir);
  if (!diagnosis.valid)
    throw new CorralError('unavailable', `OS ${name} in ${dir} is not valid: ${diagnosis.reason}`);
  const { os } = diagnosis;
  if (variant === '')
    throw new CorralError(
      'bad_request',
      `${JSON.stringify(osName)} names no variant after +; use NAME or NAME+VARIANT`,
    );
  // The master checked the variant against this list, or was told to let it through (--force-variant).
  return { os, variant: variant ?? os.variants[0] };
}

/** A directory name a user could type: not hidden, no separator, no variant mark. */
function isOsName(name: string): boolean {
  return name !== '' && !name.startsWith('.') && !name.includes('/') && !name.includes('+');
}

async function osDirNames(base: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(base, { withFileTypes: true });
  } catch {
    // A search dir that is missing or unreadable holds no OS for us, as in Ganeti.
    return [];
  }
  const names: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (!isOsName(entry.name)) continue;
    // Symbolic links to directories count, as Ganeti follows them.
    if (entry.isDirectory() || (entry.isSymbolicLink() && (await isDirectory(join(base, entry.name)))))
      names.push(entry.name);
  }
  return names;
}

async function findOsDir(searchPath: readonly string[], name: string): Promise<string | undefined> {
  for (const base of searchPath) {
    const dir = join(base, name);
    if (await isDirectory(dir)) return dir;
  }
  return undefined;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The checks of Ganeti's OS loader, in its order; the first failure is the reason. */
async function diagnoseOs(name: string, dir: string): Promise<OsDiagnosis> {
  const invalid = (reason: string): OsDiagnosis => ({ name, dir, valid: false, reason });

  const versionsText = await readTextFile(dir, API_VERSION_FILE);
  if (typeof versionsText !== 'string') return invalid(versionsText.problem);
  const apiVersions: number[] = [];
  for (const line of versionsText.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1)) {
    if (!/^\s*\d+\s*$/.test(line))
      return invalid(`${API_VERSION_FILE} holds ${JSON.stringify(line)}, not an API version number`);
    apiVersions.push(Number(line));
  }
  const common = SUPPORTED_OS_API_VERSIONS.filter((v) => apiVersions.includes(v));
  if (common.length === 0)
    return invalid(
      `no supported API version in ${API_VERSION_FILE} (found ${apiVersions.join(', ') || 'none'}; Corral speaks ${SUPPORTED_OS_API_VERSIONS.join(', ')})`,
    );
  const apiVersion = Math.max(...common);
  // As in Ganeti, the newest version the OS declares, not the one negotiated, says which files it must have.
  const declared = Math.max(...apiVersions);

  // Scripts: required or optional by API version, each a regular file with the owner-execute bit.
  const scripts: [string, boolean][] = [
    [CREATE, false],
    [CREATE_UNTRUSTED, false],
    ['import', true],
    ['export', true],
    ['rename', true],
  ];
  if (declared >= 20) scripts.push(['verify', true]);
  const present = new Set<string>();
  for (const [script, required] of scripts) {
    const problem = await checkFile(dir, script, { script: true });
    if (problem === 'missing') {
      if (required) return invalid(`missing script ${script}`);
      continue;
    }
    if (problem !== undefined) return invalid(problem);
    present.add(script);
  }
  if (!present.has(CREATE) && !present.has(CREATE_UNTRUSTED))
    return invalid(`missing script ${CREATE} (nor ${CREATE_UNTRUSTED})`);

  let variants: string[] = [];
  if (declared >= 15) {
    const text = await readTextFile(dir, VARIANTS_FILE);
    if (typeof text === 'string') variants = contentLines(text);
    else if (!text.missing) return invalid(text.problem);
  }

  let parameters: { name: string; description: string }[] = [];
  if (declared >= 20) {
    const text = await readTextFile(dir, PARAMETERS_FILE);
    if (typeof text !== 'string') return invalid(text.problem);
    // `name description`, split at the first run of whitespace; no comments in this file.
    parameters = text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .map((line) => {
        const match = /^(\S+)\s*(.*)$/.exec(line)!;
        return { name: match[1]!, description: match[2]! };
      });
  }

  return { name, dir, valid: true, os: { name, dir, apiVersions, apiVersion, variants, parameters } };
}

/** Lines that say something: `#` comments and blank lines are dropped, as Ganeti does for variants.list. */
function contentLines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** undefined when the file is fine, 'missing' when absent, otherwise what is wrong with it. */
async function checkFile(
  dir: string,
  file: string,
  options: { script: boolean },
): Promise<string | undefined> {
  let stats: Awaited<ReturnType<typeof stat>>;
  try {
    // stat follows links: a script may be a symlink to a regular file, as in Debian's packages.
    stats = await stat(join(dir, file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    return `cannot read ${file} (${code})`;
  }
  if (!stats.isFile()) return `${file} is not a regular file`;
  if (options.script && (stats.mode & constants.S_IXUSR) === 0)
    return `script ${file} is not executable (no owner-execute bit)`;
  return undefined;
}

async function readTextFile(
  dir: string,
  file: string,
): Promise<string | { readonly missing: boolean; readonly problem: string }> {
  const problem = await checkFile(dir, file, { script: false });
  if (problem === 'missing') return { missing: true, problem: `missing ${file}` };
  if (problem !== undefined) return { missing: false, problem };
  const path = join(dir, file);
  try {
    const size = (await stat(path)).size;
    if (size > TEXT_FILE_CAP_BYTES)
      return {
        missing: false,
        problem: `${file} is ${size} bytes, more than ${TEXT_FILE_CAP_BYTES} allowed`,
      };
    return await readFile(path, 'utf8');
  } catch (error) {
    return { missing: false, problem: `cannot read ${file} (${(error as NodeJS.ErrnoException).code})` };
  }
}
