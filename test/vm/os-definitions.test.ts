import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_OS_SEARCH_PATH,
  diagnoseOses,
  loadOs,
  SUPPORTED_OS_API_VERSIONS,
} from '../../src/vm/os-definitions.js';
import { api20Files, type FixtureFile, makeOs } from './os-fixtures.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'corral-os-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

async function diagnoseOne(files: Record<string, FixtureFile | undefined>) {
  await makeOs(root, 'fixture', files);
  const [diagnosis, ...rest] = await diagnoseOses([root]);
  expect(rest).toEqual([]);
  return diagnosis!;
}

describe('OS definitions', () => {
  it("has Ganeti's search path and API versions", () => {
    expect(DEFAULT_OS_SEARCH_PATH).toEqual([
      '/srv/ganeti/os',
      '/usr/local/lib/ganeti/os',
      '/usr/lib/ganeti/os',
      '/usr/share/ganeti/os',
    ]);
    expect(SUPPORTED_OS_API_VERSIONS).toEqual([20, 15, 10]);
  });

  it('reads a valid API 20 definition: versions, variants without comments, parameters', async () => {
    const dir = join(root, 'fixture');
    expect(await diagnoseOne(api20Files())).toEqual({
      name: 'fixture',
      dir,
      valid: true,
      os: {
        name: 'fixture',
        dir,
        apiVersions: [20, 15],
        apiVersion: 20,
        variants: ['default', 'minimal'],
        parameters: [
          { name: 'filesystem', description: 'The filesystem type of the root partition' },
          { name: 'dhcp', description: 'Use DHCP on the first NIC' },
        ],
      },
    });
  });

  it('speaks the highest common version; older definitions need neither verify nor parameters.list', async () => {
    const diagnosis = await diagnoseOne({
      ...api20Files(),
      ganeti_api_version: '15\n10\n5\n',
      verify: undefined,
      'parameters.list': undefined,
    });
    expect(diagnosis).toMatchObject({ valid: true, os: { apiVersions: [15, 10, 5], apiVersion: 15 } });
    expect(diagnosis.valid && diagnosis.os.variants).toEqual(['default', 'minimal']);
  });

  it('takes an absent or empty variants.list as no variants, and create_untrusted for create', async () => {
    expect(await diagnoseOne({ ...api20Files(), 'variants.list': '# none yet\n\n' })).toMatchObject({
      valid: true,
      os: { variants: [] },
    });
    await rm(join(root, 'fixture'), { recursive: true });
    expect(
      await diagnoseOne({
        ...api20Files(),
        'variants.list': undefined,
        create: undefined,
        create_untrusted: '#!/bin/sh\n',
      }),
    ).toMatchObject({ valid: true, os: { variants: [] } });
  });

  it('follows symbolic links to scripts and lists, as in Debian packages', async () => {
    // Outside the OS directory, as Debian keeps debootstrap's variants.list in /etc (hidden: not an OS).
    const etc = join(root, '.etc');
    await makeOs(etc, 'debootstrap', {
      'variants.list': 'buster\nbookworm\n',
      'export.real': { content: '#!/bin/sh\n', mode: 0o755 },
    });
    await makeOs(root, 'fixture', { ...api20Files(), 'variants.list': undefined, export: undefined });
    await symlink(join(etc, 'debootstrap', 'variants.list'), join(root, 'fixture', 'variants.list'));
    await symlink(join(etc, 'debootstrap', 'export.real'), join(root, 'fixture', 'export'));
    expect(await diagnoseOses([root])).toMatchObject([
      { valid: true, os: { variants: ['buster', 'bookworm'] } },
    ]);
  });

  const invalid: [string, Record<string, FixtureFile | undefined>, string][] = [
    ['no ganeti_api_version', { ganeti_api_version: undefined }, 'missing ganeti_api_version'],
    [
      'ganeti_api_version is a directory',
      { ganeti_api_version: 'directory' },
      'ganeti_api_version is not a regular file',
    ],
    [
      'a version that is not a number',
      { ganeti_api_version: '20\ntwenty\n' },
      'ganeti_api_version holds "twenty", not an API version number',
    ],
    [
      'a blank line among the versions',
      { ganeti_api_version: '20\n\n15\n' },
      'ganeti_api_version holds "", not an API version number',
    ],
    [
      'no supported version',
      { ganeti_api_version: '5\n' },
      'no supported API version in ganeti_api_version (found 5; Corral speaks 20, 15, 10)',
    ],
    ['no import', { import: undefined }, 'missing script import'],
    ['no export', { export: undefined }, 'missing script export'],
    ['no rename', { rename: undefined }, 'missing script rename'],
    ['no verify at API 20', { verify: undefined }, 'missing script verify'],
    [
      'no verify when the newest declared version is past 20',
      { ganeti_api_version: '25\n10\n', verify: undefined },
      'missing script verify',
    ],
    ['no parameters.list at API 20', { 'parameters.list': undefined }, 'missing parameters.list'],
    [
      'neither create nor create_untrusted',
      { create: undefined },
      'missing script create (nor create_untrusted)',
    ],
    [
      'a script without the owner-execute bit',
      { export: { content: '#!/bin/sh\n', mode: 0o655 } },
      'script export is not executable (no owner-execute bit)',
    ],
    [
      'create_untrusted without the owner-execute bit',
      { create_untrusted: { content: '#!/bin/sh\n', mode: 0o644 } },
      'script create_untrusted is not executable (no owner-execute bit)',
    ],
    ['a script that is a directory', { rename: 'directory' }, 'rename is not a regular file'],
    [
      'variants.list that is a directory',
      { 'variants.list': 'directory' },
      'variants.list is not a regular file',
    ],
  ];
  it.each(invalid)('is invalid with %s', async (_, changes, reason) => {
    expect(await diagnoseOne({ ...api20Files(), ...changes })).toEqual({
      name: 'fixture',
      dir: join(root, 'fixture'),
      valid: false,
      reason,
    });
  });

  it('searches dirs in order: the first dir holding a name wins, missing dirs and non-OS entries are skipped', async () => {
    const first = join(root, 'first');
    const second = join(root, 'second');
    await makeOs(first, 'debootstrap', { ...api20Files(), import: undefined });
    await makeOs(second, 'debootstrap', api20Files());
    await makeOs(second, 'alpine', api20Files());
    await makeOs(second, '.hidden', api20Files());
    await writeFile(join(second, 'README'), 'not an OS');
    const result = await diagnoseOses([join(root, 'missing'), first, second]);
    expect(result.map((d) => [d.name, d.dir, d.valid])).toEqual([
      ['debootstrap', join(first, 'debootstrap'), false],
      ['alpine', join(second, 'alpine'), true],
    ]);
  });
});

describe('loadOs', () => {
  it('gives the first variant when none is named, and the named one otherwise', async () => {
    await makeOs(root, 'debootstrap', api20Files());
    expect((await loadOs([root], 'debootstrap')).variant).toBe('default');
    const { os, variant } = await loadOs([root], 'debootstrap+minimal');
    expect(variant).toBe('minimal');
    expect(os.name).toBe('debootstrap');
  });

  it('gives no variant for an OS without variants', async () => {
    await makeOs(root, 'noop', { ...api20Files(), 'variants.list': undefined });
    expect((await loadOs([root], 'noop')).variant).toBeUndefined();
  });

  it('refuses an unknown OS, an invalid one, an empty variant and a bad name, each with one line', async () => {
    await makeOs(root, 'debootstrap', api20Files());
    await makeOs(root, 'broken', { ...api20Files(), verify: undefined });
    await makeOs(root, 'plainos', { ...api20Files(), 'variants.list': undefined });
    await expect(loadOs([root, join(root, 'other')], 'centos')).rejects.toMatchObject({
      code: 'not_found',
      message: `OS centos is not installed on this node (searched ${root}, ${join(root, 'other')}); install it on every node`,
    });
    await expect(loadOs([root], 'broken+default')).rejects.toMatchObject({
      code: 'unavailable',
      message: `OS broken in ${join(root, 'broken')} is not valid: missing script verify`,
    });
    await expect(loadOs([root], 'debootstrap+')).rejects.toMatchObject({
      code: 'bad_request',
      message: '"debootstrap+" names no variant after +; use NAME or NAME+VARIANT',
    });
    // A variant the OS does not list is the master's to refuse, or to let through (--force-variant).
    expect((await loadOs([root], 'debootstrap+trixie')).variant).toBe('trixie');
    expect((await loadOs([root], 'plainos+default')).variant).toBe('default');
    await expect(loadOs([root], '../etc')).rejects.toMatchObject({
      code: 'bad_request',
      message: '"../etc" is not an OS name; use NAME or NAME+VARIANT',
    });
  });
});

describe("Debian's ganeti-os-noop", () => {
  it('is valid as installed: API 10, no variants, no parameters', async () => {
    const noop = (await diagnoseOses(['/usr/share/ganeti/os'])).find((d) => d.name === 'noop');
    expect(noop).toEqual({
      name: 'noop',
      dir: '/usr/share/ganeti/os/noop',
      valid: true,
      os: {
        name: 'noop',
        dir: '/usr/share/ganeti/os/noop',
        apiVersions: [5, 10],
        apiVersion: 10,
        variants: [],
        parameters: [],
      },
    });
  });
});
