/**
 * Two nodes (two AccessControl instances, each with its own pool and change
 * feed) over one PostgreSQL schema: what one node does to access control holds
 * on the other at once.
 */
import { decodeProtectedHeader } from 'jose';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dropSchema, POSTGRES_URL, postgresUnavailable, skipPostgres, uniqueSchema } from '../../test/support/postgres.js';
import { openPostgresStores } from '../storage/meta/postgres/open-postgres.js';
import { PgChangeFeed } from '../storage/meta/postgres/pg-change-feed.js';
import type { MetaStores } from '../storage/meta/stores.js';
import { AccessControl, type AccessControlOptions } from './access-control.js';
import { AuthenticationError } from './authenticator.js';
import { hashPassword } from './passwords.js';
import { mintSecret } from './secrets.js';

const OPTIONS: AccessControlOptions = {
  enabled: true,
  service: 'berth',
  issuer: 'berth',
  tokenTtlSeconds: 300,
  refreshTokenTtlDays: 30,
  keyRotationDays: 90,
  throttle: { windowSeconds: 300, maxFailuresPerUser: 4, maxFailuresPerSource: 100 },
  autoCreateRegistries: false,
};

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const OLD_PASSWORD = 'old password 0123456789';
const NEW_PASSWORD = 'new password 0123456789';

/**
 * How long `attempt` went on being accepted: the time, from now, at which the
 * first attempt that was refused (401) began (so the refusing check's own
 * time, scrypt under load, is not counted). A write on one node is answered
 * once its announcement has come back to that node; the other nodes' copies
 * arrive at about the same moment, not necessarily before (a few milliseconds
 * later, measured in one process). The promise to keep is "well within the
 * 10 s a credential is remembered".
 */
async function acceptedFor(attempt: () => Promise<unknown>, limitMs = 5000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const began = Date.now() - started;
    try {
      await attempt();
    } catch (err) {
      if (err instanceof AuthenticationError) return began;
      throw err;
    }
    if (Date.now() - started > limitMs) throw new Error(`still accepted after ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Well within the 10 s a credential is remembered, with room for a loaded test machine. */
const AT_ONCE_MS = 2000;

interface Node {
  access: AccessControl;
  stores: MetaStores;
  feed?: PgChangeFeed;
}

describe.skipIf(skipPostgres)('two nodes over one PostgreSQL: shared access-control state', () => {
  let schema: string;
  let nodes: Node[];

  /** A node as server.ts builds one on PostgreSQL: stores, change feed (unless `withoutFeed`), access control. */
  const startNode = async (withoutFeed = false): Promise<Node> => {
    const stores = await openPostgresStores({ url: POSTGRES_URL, schema, poolSize: 4 });
    const feed = withoutFeed ? undefined : new PgChangeFeed({ url: POSTGRES_URL, schema });
    await feed?.start();
    const access = await AccessControl.create({ ...OPTIONS, changeFeed: feed }, stores.access, stores.authState, pino({ level: 'silent' }));
    const node = { access, stores, feed };
    nodes.push(node);
    return node;
  };

  beforeEach(() => {
    expect(postgresUnavailable).toBeUndefined();
    schema = uniqueSchema();
    nodes = [];
  });
  afterEach(async () => {
    for (const n of nodes) {
      await n.feed?.close();
      await n.stores.close();
    }
    await dropSchema(schema);
  });

  it('nodes starting at once share one signing key: a token issued by A verifies on B, and the other way round', async () => {
    const [a, b] = await Promise.all([startNode(), startNode()]);
    const fromA = (await a.access.tokens.issue('alice', 'user', [{ type: 'repository', name: 'team/app', actions: ['pull'] }])).token;
    const fromB = (await b.access.tokens.issue('bob', 'user', [])).token;
    expect(await b.access.tokens.verify(fromA)).toMatchObject({ subject: 'alice', access: [{ name: 'team/app', actions: ['pull'] }] });
    expect(await a.access.tokens.verify(fromB)).toMatchObject({ subject: 'bob' });
    expect(decodeProtectedHeader(fromA).kid).toBe(decodeProtectedHeader(fromB).kid);
    expect(await a.stores.authState.listSigningKeys()).toHaveLength(1);
  });

  it('a rotation on A: A signs with the new key at once, B verifies its tokens at once, and old tokens stay valid on both', async () => {
    const a = await startNode();
    const b = await startNode();
    const before = (await b.access.tokens.issue('carol', 'user', [])).token;
    const newKid = await a.access.keys.rotate();
    const after = (await a.access.tokens.issue('carol', 'user', [])).token;
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    expect(await b.access.tokens.verify(after)).toMatchObject({ subject: 'carol' });
    expect(await a.access.tokens.verify(before)).toMatchObject({ subject: 'carol' });
    expect(await b.access.tokens.verify(before)).toMatchObject({ subject: 'carol' });
    // B learnt of the new key from the store, retirement of the old one included.
    expect(b.access.keys.list().map((k) => [k.kid, k.retiredAt === undefined])).toEqual([
      [newKid, true],
      [decodeProtectedHeader(before).kid, false],
    ]);
  });

  it('a password changed on A is refused on B at once, though B had just accepted it (a node without a feed would still)', async () => {
    const [a, b] = [await startNode(), await startNode()];
    const isolated = await startNode(true);
    const alice = await a.access.store.createUser({ username: 'alice', passwordHash: await hashPassword(OLD_PASSWORD), serverAdmin: false, canCreateRegistries: false });
    expect(await b.access.authenticator.fromHeader(basic('alice', OLD_PASSWORD), '10.0.0.1')).toMatchObject({ kind: 'user', name: 'alice' });
    expect(await isolated.access.authenticator.fromHeader(basic('alice', OLD_PASSWORD), '10.0.0.1')).toMatchObject({ name: 'alice' });

    await a.access.store.updateUser(alice.id, { passwordHash: await hashPassword(NEW_PASSWORD) });
    expect(await acceptedFor(() => b.access.authenticator.fromHeader(basic('alice', OLD_PASSWORD), '10.0.0.1'))).toBeLessThan(AT_ONCE_MS);
    expect(await b.access.authenticator.fromHeader(basic('alice', NEW_PASSWORD), '10.0.0.1')).toMatchObject({ name: 'alice' });
    // What the feed is for: without it, B would have gone on accepting the old password for up to 10 s.
    expect(await isolated.access.authenticator.fromHeader(basic('alice', OLD_PASSWORD), '10.0.0.1')).toMatchObject({ name: 'alice' });
  });

  it('a token revoked on A is refused on B at once, in either form (Basic or bearer)', async () => {
    const [a, b] = [await startNode(), await startNode()];
    const alice = await a.access.store.createUser({ username: 'alice', passwordHash: await hashPassword(OLD_PASSWORD), serverAdmin: false, canCreateRegistries: false });
    const minted = mintSecret('pat');
    await a.access.store.createToken({ id: minted.id, kind: 'pat', ownerKind: 'user', ownerId: alice.id, name: 'ci', secretHash: minted.secretHash, scopes: null, expiresAt: null, createdAt: Date.now() });
    const asBearer = `Bearer ${minted.secret}`;
    const asBasic = basic('alice', minted.secret);
    expect(await b.access.authenticator.fromHeader(asBearer, '10.0.0.2')).toMatchObject({ name: 'alice', via: 'token' });
    expect(await b.access.authenticator.fromHeader(asBasic, '10.0.0.2')).toMatchObject({ name: 'alice', via: 'token' });

    await a.access.store.revokeToken(minted.id, Date.now());
    expect(await acceptedFor(() => b.access.authenticator.fromHeader(asBearer, '10.0.0.2'))).toBeLessThan(AT_ONCE_MS);
    expect(await acceptedFor(() => b.access.authenticator.fromHeader(asBasic, '10.0.0.2'))).toBeLessThan(AT_ONCE_MS);
  });

  it('forget() on A (as after deleting a registry, which is not written through access.store) clears B too', async () => {
    const [a, b] = [await startNode(), await startNode()];
    const alice = await a.stores.access.createUser({ username: 'alice', passwordHash: await hashPassword(OLD_PASSWORD), serverAdmin: false, canCreateRegistries: false });
    await b.access.authenticator.fromHeader(basic('alice', OLD_PASSWORD), '10.0.0.3');
    await a.stores.access.updateUser(alice.id, { disabled: true }); // unannounced
    await a.access.authenticator.forget();
    expect(await acceptedFor(() => b.access.authenticator.fromHeader(basic('alice', OLD_PASSWORD), '10.0.0.3'))).toBeLessThan(AT_ONCE_MS);
  });

  it('failed logins on A and B add up: the limit holds across nodes', async () => {
    const [a, b] = [await startNode(), await startNode()];
    await a.stores.access.createUser({ username: 'victim', passwordHash: await hashPassword(OLD_PASSWORD), serverAdmin: false, canCreateRegistries: false });
    const wrong = (node: Node, source: string) => expect(node.access.authenticator.login('victim', 'wrong password 0123', source)).rejects.toBeInstanceOf(AuthenticationError);
    await wrong(a, '10.0.1.1');
    await wrong(b, '10.0.1.2');
    await wrong(a, '10.0.1.3');
    await wrong(b, '10.0.1.4');
    // Four failures in all, two per node: each node alone would still allow logins (limit 4 per user).
    for (const node of [a, b]) {
      await expect(node.access.authenticator.login('victim', OLD_PASSWORD, '10.0.1.5')).rejects.toMatchObject({ code: 'TOOMANYREQUESTS' });
    }
  });
});
