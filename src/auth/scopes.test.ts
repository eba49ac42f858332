import { describe, expect, it } from 'vitest';
import { globMatches, parseResourceScopes } from './scopes.js';
import { mintSecret, parseSecret, secretMatches } from './secrets.js';
import { hashPassword, verifyPassword } from './passwords.js';

describe('globMatches', () => {
  it.each([
    ['team-a/*', 'team-a/app', true],
    ['team-a/*', 'team-a/app/api', false],
    ['team-a/**', 'team-a/app/api', true],
    ['team-a/app*', 'team-a/app-web', true],
    ['team-a/app', 'team-a/app', true],
    ['team-a/app', 'team-a/apps', false],
    ['team.a/*', 'teamxa/app', false],
  ])('%s ~ %s → %s', (pattern, name, expected) => {
    expect(globMatches(pattern, name)).toBe(expected);
  });
});

describe('parseResourceScopes', () => {
  it('reads Docker scopes, names with colons and space-separated lists', () => {
    expect(parseResourceScopes(['repository:team/app:pull,push', 'registry:catalog:* repository:localhost:5000/x:pull'])).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'repository', name: 'localhost:5000/x', actions: ['pull'] },
    ]);
  });

  it('drops malformed items', () => {
    expect(parseResourceScopes(['repository', 'repository:x', 'repository::pull', 'repository:x:'])).toEqual([]);
  });
});

describe('secrets', () => {
  it('round-trips, and only the right secret matches the stored hash', () => {
    const minted = mintSecret('pat');
    const parsed = parseSecret(minted.secret)!;
    expect(parsed.id).toBe(minted.id);
    expect(secretMatches(parsed.secretPart, minted.secretHash)).toBe(true);
    expect(secretMatches(parsed.secretPart.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), minted.secretHash)).toBe(false);
    expect(minted.secret).toMatch(/^berth_pat_/);
    expect(parseSecret('berth_pat_short_x')).toBeUndefined();
  });
});

describe('passwords', () => {
  it('verifies the right password only, with parameters stored in the hash', async () => {
    const hash = await hashPassword('correct horse battery');
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifyPassword('correct horse battery', hash)).toBe(true);
    expect(await verifyPassword('correct horse batterY', hash)).toBe(false);
    expect(await verifyPassword('x', 'not-a-hash')).toBe(false);
  });
});
