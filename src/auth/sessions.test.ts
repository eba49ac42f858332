import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqliteStores, type MetaStoresFixture } from '../../test/support/meta-stores.js';
import { AccessControl, type AccessControlOptions } from './access-control.js';
import { AuthenticationError } from './authenticator.js';
import { hashPassword } from './passwords.js';
import { cookieValue, csrfTokenMatches, csrfTokenOf } from './sessions.js';
import { mintSecret } from './secrets.js';

const OPTIONS: AccessControlOptions = {
  enabled: true,
  service: 'berth',
  issuer: 'berth',
  tokenTtlSeconds: 300,
  refreshTokenTtlDays: 30,
  sessionTtlHours: 2,
  keyRotationDays: 90,
  throttle: { windowSeconds: 300, maxFailuresPerUser: 10, maxFailuresPerSource: 100 },
  autoCreateRegistries: false,
};
const PASSWORD = 'correct horse battery';

describe('Sessions: control-panel sign-ins', () => {
  let f: MetaStoresFixture;
  let access: AccessControl;
  let aliceId: number;
  beforeEach(async () => {
    f = await sqliteStores();
    aliceId = (await f.stores.access.createUser({ username: 'alice', passwordHash: await hashPassword(PASSWORD), serverAdmin: false, canCreateRegistries: true })).id;
    access = await AccessControl.create(OPTIONS, f.stores.access, f.stores.authState, pino({ level: 'silent' }));
  });
  afterEach(() => f.cleanup());

  it('a password sign-in yields a hashed, expiring session that resumes as the user, and sign-out revokes it', async () => {
    const before = Date.now();
    const started = await access.sessions.start('alice', PASSWORD, '10.0.0.1', 'test browser');
    expect(started.secret).toMatch(/^berth_ses_/);
    expect(started.expiresAt - before).toBeGreaterThanOrEqual(2 * 3_600_000 - 1000);
    expect(started.expiresAt - before).toBeLessThanOrEqual(2 * 3_600_000 + 1000);
    const row = await f.stores.access.getToken(started.secret.split('_')[2]!);
    expect(row?.kind).toBe('session');
    expect(row?.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(row?.secretHash).not.toContain(started.secret.split('_').pop());

    const resumed = await access.sessions.resume(started.secret);
    expect(resumed?.principal).toMatchObject({ kind: 'user', name: 'alice', via: 'session', scopes: null, canCreateRegistries: true });

    await access.sessions.end(resumed!.principal, started.secret, '10.0.0.1');
    expect(await access.sessions.resume(started.secret)).toBeUndefined();
    const actions = (await f.stores.access.queryAudit({}, 10)).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['session.start', 'session.end', 'login']));
  });

  it('refuses a wrong password and a token secret typed as the password', async () => {
    await expect(access.sessions.start('alice', 'wrong password!', '10.0.0.1', 'b')).rejects.toBeInstanceOf(AuthenticationError);
    const pat = mintSecret('pat');
    await f.stores.access.createToken({ id: pat.id, kind: 'pat', ownerKind: 'user', ownerId: aliceId, name: 'ci', secretHash: pat.secretHash, scopes: [{ registry: 'acme', actions: ['pull'] }], expiresAt: null, createdAt: Date.now() });
    await expect(access.sessions.start('alice', pat.secret, '10.0.0.1', 'b')).rejects.toThrow(/password, not a token/);
    expect((await f.stores.access.queryAudit({ action: 'session.' }, 10)).length).toBe(0);
  });

  it('an expired session, a disabled user or a tampered secret resume as nobody', async () => {
    const started = await access.sessions.start('alice', PASSWORD, '10.0.0.1', 'b');
    expect(await access.sessions.resume(`${started.secret.slice(0, -1)}${started.secret.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    await f.stores.access.updateUser(aliceId, { disabled: true });
    expect(await access.sessions.resume(started.secret)).toBeUndefined();
    await f.stores.access.updateUser(aliceId, { disabled: false });
    expect(await access.sessions.resume(started.secret)).toBeDefined();

    const stale = mintSecret('session');
    await f.stores.access.createToken({ id: stale.id, kind: 'session', ownerKind: 'user', ownerId: aliceId, name: 'old', secretHash: stale.secretHash, scopes: null, expiresAt: Date.now() - 1, createdAt: Date.now() - 10_000 });
    expect(await access.sessions.resume(stale.secret)).toBeUndefined();
  });

  it('a sign-in prunes sessions that ended more than a day ago, and only those', async () => {
    const row = (id: string, expiresAt: number) => ({ id, kind: 'session' as const, ownerKind: 'user' as const, ownerId: aliceId, name: 'old', secretHash: 'x'.repeat(64), scopes: null, expiresAt, createdAt: 0 });
    await f.stores.access.createToken(row('ended-two-days-ago', Date.now() - 2 * 86_400_000));
    await f.stores.access.createToken(row('ended-an-hour-ago', Date.now() - 3_600_000));
    await access.sessions.start('alice', PASSWORD, '10.0.0.1', 'b');
    expect(await f.stores.access.getToken('ended-two-days-ago')).toBeUndefined();
    expect(await f.stores.access.getToken('ended-an-hour-ago')).toBeDefined();
  });

  it('a session secret is never accepted as an Authorization header (cookie only, where CSRF is checked)', async () => {
    const started = await access.sessions.start('alice', PASSWORD, '10.0.0.1', 'b');
    await expect(access.authenticator.fromHeader(`Bearer ${started.secret}`, '10.0.0.2')).rejects.toBeInstanceOf(AuthenticationError);
    await expect(access.authenticator.fromHeader(`Basic ${Buffer.from(`alice:${started.secret}`).toString('base64')}`, '10.0.0.2')).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('the CSRF token is bound to its session', async () => {
    const a = await access.sessions.start('alice', PASSWORD, '10.0.0.1', 'b');
    const b = await access.sessions.start('alice', PASSWORD, '10.0.0.1', 'b');
    expect(a.csrfToken).toBe(csrfTokenOf(a.secret));
    expect(csrfTokenMatches(a.secret, a.csrfToken)).toBe(true);
    expect(csrfTokenMatches(a.secret, b.csrfToken)).toBe(false);
    expect(csrfTokenMatches(a.secret, undefined)).toBe(false);
    expect(csrfTokenMatches(a.secret, '')).toBe(false);
  });

  it('reads one cookie out of a Cookie header', () => {
    expect(cookieValue('theme=dark; berth_session=berth_ses_x; other=1', 'berth_session')).toBe('berth_ses_x');
    expect(cookieValue('not_berth_session=1', 'berth_session')).toBeUndefined();
    expect(cookieValue(undefined, 'berth_session')).toBeUndefined();
  });
});
