import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A file of a fixture OS: text, or text with a mode (scripts default to 0755, other files to 0644). */
export type FixtureFile = string | { readonly content: string; readonly mode: number } | 'directory';

const SCRIPTS = new Set(['create', 'create_untrusted', 'import', 'export', 'rename', 'verify']);

/** A valid API 20 definition: scripts that succeed, two variants, two parameters. */
export function api20Files(): Record<string, FixtureFile> {
  return {
    ganeti_api_version: '20\n15\n',
    create: '#!/bin/sh\nexit 0\n',
    import: '#!/bin/sh\nexit 0\n',
    export: '#!/bin/sh\nexit 0\n',
    rename: '#!/bin/sh\nexit 0\n',
    verify: '#!/bin/sh\nexit 0\n',
    'variants.list': '# the default comes first\ndefault\n\nminimal\n',
    'parameters.list':
      'filesystem The filesystem type of the root partition\ndhcp\tUse DHCP on the first NIC\n',
  };
}

/** Writes an OS definition `name` under `base`; a file set to undefined is left out. */
export async function makeOs(
  base: string,
  name: string,
  files: Record<string, FixtureFile | undefined>,
): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir, { recursive: true });
  for (const [file, spec] of Object.entries(files)) {
    if (spec === undefined) continue;
    const path = join(dir, file);
    if (spec === 'directory') {
      await mkdir(path);
      continue;
    }
    const { content, mode } =
      typeof spec === 'string' ? { content: spec, mode: SCRIPTS.has(file) ? 0o755 : 0o644 } : spec;
    await writeFile(path, content);
    await chmod(path, mode);
  }
  return dir;
}
