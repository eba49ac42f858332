import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sqliteStores, type MetaStoresFixture } from '../../test/support/meta-stores.js';
import { AUTH_TOPIC, type ChangeFeed } from '../core/change-feed.js';
import { AccessControl, type AccessControlOptions } from './access-control.js';
import { hashPassword } from './passwords.js';

const ACCESS_OPTIONS: AccessControlOptions = {
  enabled: true,
  service: 'berth',
  issuer: 'berth',
  tokenTtlSeconds: 300,
  refreshTokenTtlDays: 30,
  keyRotationDays: 90,
  throttle: { windowSeconds: 300, maxFailuresPerUser: 10, maxFailuresPerSource: 100 },
  autoCreateRegistries: false,
};

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const PASSWORD = 'correct horse battery';

/** A change feed the test drives: what is published is recorded; `hear` delivers a topic as if from another node. */
class TestFeed implements ChangeFeed {
  connected = true;
  readonly published: string[] = [];
  /** Set to make publish wait until the test lets it finish. */
  gate?: Promise<void>;
  private readonly listeners: ((topic: string | undefined) => void)[] = [];

  async publish(topic: string): Promise<void> {
    await this.gate;
    this.published.push(topic);
  }

  subscribe(listener: (topic: string | undefined) => void): void {
    this.listeners.push(listener);
  }

  hear(topic: string | undefined): void {
    for (const l of this.listeners) l(topic);
  }
}

describe('Authenticator: remembered credentials', () => {
  let f: MetaStoresFixture;
  beforeEach(async () => {
    f = await sqliteStores();
    await f.stores.access.createUser({ username: 'alice', passwordHash: await hashPassword(PASSWORD), serverAdmin: false, canCreateRegistries: false });
  });
  afterEach(() => f.cleanup());

  const node = async (changeFeed?: ChangeFeed) => {
    const access = await AccessControl.create({ ...ACCESS_OPTIONS, changeFeed }, f.stores.access, f.stores.authState, pino({ level: 'silent' }));
    const original = f.stores.access.getUser.bind(f.stores.access);
    const checks = vi.spyOn(f.stores.access, 'getUser');
    const login = () => access.authenticator.fromHeader(basic('alice', PASSWORD), '10.0.0.1');
    return { access, checks, login, original };
  };

  /** Makes the next user lookup wait until the returned function is called. */
  const holdNextCheck = ({ checks, original }: Awaited<ReturnType<typeof node>>) => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    checks.mockImplementationOnce(async (name) => {
      const user = await original(name);
      await held;
      return user;
    });
    return () => release();
  };

  it('without a feed: a checked credential is remembered until forget() (as before)', async () => {
    const { access, checks, login } = await node();
    await login();
    await login();
    expect(checks).toHaveBeenCalledTimes(1);
    await access.authenticator.forget();
    await login();
    expect(checks).toHaveBeenCalledTimes(2);
  });

  it('with a feed: an announced auth change or a gap in the feed clears it; other topics do not', async () => {
    const feed = new TestFeed();
    const { checks, login } = await node(feed);
    await login();
    await login();
    expect(checks).toHaveBeenCalledTimes(1);
    feed.hear('repo:team/app');
    await login();
    expect(checks).toHaveBeenCalledTimes(1);
    feed.hear(AUTH_TOPIC);
    await login();
    expect(checks).toHaveBeenCalledTimes(2);
    feed.hear(undefined);
    await login();
    expect(checks).toHaveBeenCalledTimes(3);
  });

  it('while the feed is down nothing is remembered or served from memory', async () => {
    const feed = new TestFeed();
    const { checks, login } = await node(feed);
    await login();
    feed.connected = false;
    await login();
    await login();
    expect(checks).toHaveBeenCalledTimes(3);
    feed.connected = true; // and what was remembered before the gap is gone
    await login();
    await login();
    expect(checks).toHaveBeenCalledTimes(4);
  });

  it('requests arriving together with one credential share one check; a wrong password fails them all', async () => {
    const { access, checks, login } = await node();
    const principals = await Promise.all(Array.from({ length: 16 }, login));
    expect(principals.every((p) => p.kind !== 'anonymous' && p.name === 'alice')).toBe(true);
    expect(checks).toHaveBeenCalledTimes(1);
    const wrong = () => access.authenticator.fromHeader(basic('alice', 'wrong password'), '10.0.0.1');
    const results = await Promise.allSettled(Array.from({ length: 8 }, wrong));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(checks).toHaveBeenCalledTimes(2);
    // Nothing of the failure is remembered: the next attempt is checked again.
    await expect(wrong()).rejects.toThrow();
    expect(checks).toHaveBeenCalledTimes(3);
  });

  it('a check under way when the cache is cleared is neither joined nor remembered: it may have read what the change replaced', async () => {
    const feed = new TestFeed();
    const n = await node(feed);
    const { checks, login } = n;
    const release = holdNextCheck(n);
    const first = login();
    await vi.waitFor(() => expect(checks).toHaveBeenCalledTimes(1));
    feed.hear(AUTH_TOPIC);
    const second = login(); // its own check, not the one begun before the change
    await vi.waitFor(() => expect(checks).toHaveBeenCalledTimes(2));
    release();
    await Promise.all([first, second]);
    await login(); // served by what the second check remembered
    expect(checks).toHaveBeenCalledTimes(2);
  });

  it('forget() and every change written through access.store announce AUTH_TOPIC, and the write waits for it', async () => {
    const feed = new TestFeed();
    const { access } = await node(feed);
    await access.authenticator.forget();
    expect(feed.published).toEqual([AUTH_TOPIC]);

    let open!: () => void;
    feed.gate = new Promise<void>((r) => (open = r));
    const user = (await access.store.getUser('alice'))!;
    let written = false;
    const writing = access.store.updateUser(user.id, { disabled: true }).then(() => (written = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(written).toBe(false); // the row is written, but the other nodes have not been told yet
    expect((await f.stores.access.getUser('alice'))?.disabled).toBe(true);
    open();
    await writing;
    expect(feed.published).toEqual([AUTH_TOPIC, AUTH_TOPIC]);

    // Reads and per-login bookkeeping announce nothing.
    await access.store.listUsers();
    await access.store.appendAudit({ at: Date.now(), actor: 'x', actorKind: 'system', action: 'test', outcome: 'success' });
    expect(feed.published).toHaveLength(2);
    await access.store.deleteUser(user.id);
    expect(feed.published).toHaveLength(3);
  });

  it('a failed write is announced too (it may have been half done), and still fails', async () => {
    const feed = new TestFeed();
    const { access } = await node(feed);
    vi.spyOn(f.stores.access, 'deleteGrant').mockRejectedValueOnce(new Error('disk full'));
    await expect(access.store.deleteGrant(1, 1)).rejects.toThrow('disk full');
    expect(feed.published).toEqual([AUTH_TOPIC]);
  });
});
