import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decideAccess } from '../../../src/api/rapi/access.js';
import { parseUsers, passwordMatches, RAPI_REALM, UsersFile } from '../../../src/api/rapi/users.js';

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ha1 = (user: string, password: string) =>
  createHash('md5').update(`${user}:${RAPI_REALM}:${password}`).digest('hex');

describe("Ganeti's RAPI users file", () => {
  const users = parseUsers(
    [
      '# comment',
      '',
      'reader secret read',
      `admin {HA1}${ha1('admin', 'pw').toUpperCase()} write`,
      'both {CLEARTEXT}clear read,write,other',
      'odd {SHA}whatever write',
      'lonely',
    ].join('\n'),
  );

  it('reads users, passwords in every form, and their options', () => {
    expect([...users.keys()]).toEqual(['reader', 'admin', 'both', 'odd']);
    expect([...(users.get('both')?.options ?? [])]).toEqual(['read', 'write']);
    expect(passwordMatches(users.get('reader')!, 'secret')).toBe(true);
    expect(passwordMatches(users.get('reader')!, 'Secret')).toBe(false);
    expect(passwordMatches(users.get('admin')!, 'pw')).toBe(true);
    expect(passwordMatches(users.get('admin')!, 'nope')).toBe(false);
    expect(passwordMatches(users.get('both')!, 'clear')).toBe(true);
    expect(passwordMatches(users.get('odd')!, 'whatever')).toBe(false);
  });

  it("decides access by Ganeti's rules", () => {
    const decide = (access: Parameters<typeof decideAccess>[0], header?: string, required = false) =>
      decideAccess(access, header, users, required);
    expect(decide('anonymous')).toEqual({ allowed: true });
    expect(decide('anonymous', undefined, true)).toEqual({ allowed: false, status: 401 });
    expect(decide('anonymous', basic('reader', 'wrong'))).toEqual({ allowed: false, status: 401 });
    expect(decide('anonymous', basic('reader', 'secret'))).toEqual({ allowed: true, user: 'reader' });
    expect(decide(['write'])).toEqual({ allowed: false, status: 401 });
    expect(decide(['write'], basic('reader', 'secret'))).toEqual({ allowed: false, status: 403 });
    expect(decide(['write'], basic('admin', 'pw'))).toEqual({ allowed: true, user: 'admin' });
    expect(decide(['read', 'write'], basic('reader', 'secret'))).toEqual({ allowed: true, user: 'reader' });
    // A Digest header counts as none.
    expect(decide(['write'], 'Digest username="admin"')).toEqual({ allowed: false, status: 401 });
  });

  it('is read again when the file changes, and a missing file means no users', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'corral-rapi-users-'));
    try {
      let now = 0;
      const path = join(dir, 'users');
      const file = new UsersFile(path, () => now);
      expect((await file.current()).size).toBe(0);
      await writeFile(path, 'one pw write\n');
      expect((await file.current()).size).toBe(0);
      now += 1_001;
      expect([...(await file.current()).keys()]).toEqual(['one']);
      await writeFile(path, 'one pw write\ntwo pw read\n');
      now += 1_001;
      expect([...(await file.current()).keys()]).toEqual(['one', 'two']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
