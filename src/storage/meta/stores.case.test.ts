import { describe, expect, it } from 'vitest';
import { digestBytes, type Digest } from '../../oci/digest.js';
import { parseRepoName } from '../../oci/name.js';
import type { NewManifest } from './meta-store.js';
import type { MetaStores } from './stores.js';

export interface StoresFixture {
  stores: MetaStores;
  cleanup(): Promise<void>;
}

const d = (s: string): Digest => digestBytes(Buffer.from(s));
const today = () => new Date().toISOString().slice(0, 10);

function manifest(repositoryId: number, body: string, extra: Partial<NewManifest> = {}): NewManifest {
  return { repositoryId, digest: d(body), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: body.length, body: Buffer.from(body), blobDigests: [], childDigests: [], ...extra };
}

/**
 * The stores beside the MetaStore (access, usage, GC, repository listings), one
 * suite for every dialect: the queries are shared, so each must answer alike.
 */
export function describeStores(name: string, create: () => Promise<StoresFixture>): void {
  describe(`stores: ${name}`, () => {
    const withStores = (test: (s: MetaStores) => Promise<void>) => async () => {
      const f = await create();
      try {
        await test(f.stores);
      } finally {
        await f.cleanup();
      }
    };

    it('access: users, teams, registries, robots and grants', withStores(async ({ access }) => {
      expect(await access.countUsers()).toBe(0);
      const alice = await access.createUser({ username: 'alice', passwordHash: 'h', serverAdmin: true, canCreateRegistries: true });
      const bob = await access.createUser({ username: 'bob', passwordHash: 'h', serverAdmin: false, canCreateRegistries: false });
      await access.createUser({ username: 'Zed', passwordHash: 'h', serverAdmin: false, canCreateRegistries: false });
      expect(alice).toMatchObject({ username: 'alice', serverAdmin: true, canCreateRegistries: true, disabled: false });
      expect(await access.countUsers()).toBe(3);
      // Byte order, as SQLite compares: upper case first, whatever the server's locale.
      expect((await access.listUsers()).map((u) => u.username)).toEqual(['Zed', 'alice', 'bob']);
      await access.updateUser(bob.id, { disabled: true, canCreateRegistries: true });
      expect(await access.getUserById(bob.id)).toMatchObject({ disabled: true, canCreateRegistries: true, serverAdmin: false });

      const team = await access.createTeam('devs');
      await access.addTeamMember(team.id, bob.id);
      await access.addTeamMember(team.id, alice.id);
      await access.addTeamMember(team.id, alice.id);
      expect((await access.getTeam('devs'))?.members).toEqual(['alice', 'bob']);
      expect(await access.teamIdsOf(alice.id)).toEqual([team.id]);
      expect(await access.removeTeamMember(team.id, bob.id)).toBe(true);
      expect(await access.removeTeamMember(team.id, bob.id)).toBe(false);

      const acme = await access.createRegistry('acme', false);
      expect((await access.createRegistry('acme', true)).id).toBe(acme.id);
      await access.setRegistryPublic(acme.id, true);
      expect(await access.getRegistry('acme')).toMatchObject({ name: 'acme', public: true });
      const robot = await access.createRobot(acme.id, 'ci');
      expect(await access.getRobot('acme', 'ci')).toEqual(robot);
      expect(robot).toMatchObject({ registry: 'acme', registryId: acme.id, disabled: false });

      const g1 = await access.addGrant({ registryId: acme.id, subjectKind: 'user', subjectId: bob.id, role: 'read-only', repositoryPattern: 'acme/app-*' });
      await access.addGrant({ registryId: acme.id, subjectKind: 'team', subjectId: team.id, role: 'read-write', repositoryPattern: null });
      await access.addGrant({ registryId: acme.id, subjectKind: 'robot', subjectId: robot.id, role: 'admin', repositoryPattern: null });
      expect((await access.listGrants(acme.id)).map((g) => g.subjectName)).toEqual(['bob', 'devs', 'acme+ci']);
      const held = await access.grantsFor(acme.id, [{ kind: 'user', id: bob.id }, { kind: 'team', id: team.id }]);
      expect(held.map((g) => g.role).sort()).toEqual(['read-only', 'read-write']);
      expect(await access.allGrantsFor([{ kind: 'user', id: bob.id }])).toEqual([expect.objectContaining({ id: g1, registry: 'acme', repositoryPattern: 'acme/app-*' })]);
      expect(await access.deleteGrant(acme.id, g1)).toBe(true);
      expect(await access.deleteGrant(acme.id, g1)).toBe(false);

      await access.deleteRobot(robot.id);
      await access.deleteTeam(team.id);
      await access.deleteUser(bob.id);
      expect(await access.listGrants(acme.id)).toEqual([]);
      expect(await access.listTeams()).toEqual([]);
      expect(await access.getUser('bob')).toBeUndefined();
    }));

    it('access: tokens and the audit log', withStores(async ({ access }) => {
      const user = await access.createUser({ username: 'tok', passwordHash: 'h', serverAdmin: false, canCreateRegistries: false });
      const token = { id: 'pat1', kind: 'pat' as const, ownerKind: 'user' as const, ownerId: user.id, name: 'laptop', secretHash: 's', scopes: [{ registry: 'acme', actions: ['pull' as const] }], expiresAt: 4_102_444_800_000, createdAt: 1 };
      await access.createToken(token);
      await access.createToken({ ...token, id: 'refresh1', kind: 'refresh', scopes: null, expiresAt: null, createdAt: 2 });
      expect(await access.getToken('pat1')).toEqual({ ...token, lastUsedAt: null, revokedAt: null });
      expect((await access.listTokens('user', user.id)).map((t) => t.id)).toEqual(['pat1']);
      await access.touchToken('pat1', 5);
      expect(await access.revokeToken('pat1', 6)).toBe(true);
      expect(await access.revokeToken('pat1', 7)).toBe(false);
      expect(await access.getToken('pat1')).toMatchObject({ lastUsedAt: 5, revokedAt: 6 });

      // Sessions are not listed with the owner's tokens; the stale ones are pruned, the live one stays.
      const session = { ...token, kind: 'session' as const, scopes: null, createdAt: 10 };
      await access.createToken({ ...session, id: 'ses-live', expiresAt: 1_000 });
      await access.createToken({ ...session, id: 'ses-expired', expiresAt: 50 });
      await access.createToken({ ...session, id: 'ses-revoked', expiresAt: 1_000 });
      await access.revokeToken('ses-revoked', 60);
      expect((await access.listTokens('user', user.id)).map((t) => t.id)).toEqual(['pat1']);
      await access.createToken({ ...session, id: 'ses-other', expiresAt: 1_000 });
      // ses-other and the expired ses-expired; ses-revoked already was, ses-live made the change.
      expect(await access.revokeSessions(user.id, 70, 'ses-live')).toBe(2);
      expect(await access.getToken('ses-other')).toMatchObject({ revokedAt: 70 });
      expect(await access.getToken('ses-live')).toMatchObject({ revokedAt: null });
      expect(await access.pruneSessions(100)).toBe(3);
      expect(await access.getToken('ses-live')).toBeDefined();
      expect(await access.getToken('ses-expired')).toBeUndefined();
      expect(await access.getToken('pat1')).toBeDefined();

      const event = { actor: 'tok', actorKind: 'user' as const, outcome: 'success' as const };
      await access.appendAudit({ ...event, at: 100, action: 'token.create', registry: 'acme', detail: { n: 1 } });
      await access.appendAudit({ ...event, at: 200, action: 'user.create' });
      await access.appendAudit({ ...event, at: 300, action: 'token.revoke', outcome: 'failure', reason: 'nope' });
      const all = await access.queryAudit({}, 10);
      expect(all.map((e) => e.action)).toEqual(['token.revoke', 'user.create', 'token.create']);
      expect(all[2]).toMatchObject({ at: 100, registry: 'acme', detail: { n: 1 } });
      expect((await access.queryAudit({ action: 'token.' }, 10)).map((e) => e.at)).toEqual([300, 100]);
      // A prefix matches whatever its case (SQLite's LIKE), on every dialect.
      expect((await access.queryAudit({ action: 'TOKEN.' }, 10)).map((e) => e.at)).toEqual([300, 100]);
      expect((await access.queryAudit({ action: 'token' }, 10)).map((e) => e.at)).toEqual([]);
      expect((await access.queryAudit({ since: 150, until: 300 }, 10)).map((e) => e.at)).toEqual([200]);
      expect((await access.queryAudit({}, 10, all[1]!.id)).map((e) => e.at)).toEqual([100]);
    }));

    it('usage: accounts, transfer by month, storage history, registry deletion', withStores(async ({ meta, usage }) => {
      await usage.ensureRegistry('acme', { tierSlug: 'basic', region: 'nyc3' });
      await usage.ensureRegistry('acme', { tierSlug: 'starter', region: 'ams3' });
      expect(await usage.getAccount('acme')).toMatchObject({ name: 'acme', tierSlug: 'basic', region: 'nyc3', storageBytes: 0 });
      await usage.setTier('acme', 'professional', 42);
      expect(await usage.getAccount('acme')).toMatchObject({ tierSlug: 'professional', tierUpdatedAt: 42 });
      const repo = await meta.ensureRepository(parseRepoName('acme/app'), 'acme');
      await meta.ensureRepository(parseRepoName('other/app'), 'other');
      expect(await usage.countRepositories('acme')).toBe(1);
      expect((await usage.listAccounts()).map((a) => a.name)).toEqual(['acme', 'other']);

      // Past 2^32 bytes: int8 columns come back as exact numbers.
      const big = 5 * 2 ** 32 + 7;
      await meta.linkBlob(repo.id, d('layer'), big);
      expect(await usage.holdsBlob('acme', d('layer'))).toBe(true);
      expect(await usage.holdsBlob('other', d('layer'))).toBe(false);
      expect((await usage.getAccount('acme'))?.storageBytes).toBe(big);
      expect(await usage.storageHistory('acme', today())).toEqual([{ day: today(), bytes: big }]);

      await usage.addTransfer([
        { registry: 'acme', month: '2026-01', bytes: 10 },
        { registry: 'acme', month: '2026-02', bytes: 3 },
        { registry: 'ghost', month: '2026-02', bytes: 99 },
      ]);
      await usage.addTransfer([{ registry: 'acme', month: '2026-01', bytes: big }]);
      expect(await usage.transferByMonth('acme')).toEqual([{ month: '2026-02', bytes: 3 }, { month: '2026-01', bytes: big + 10 }]);

      const uploadId = '00000000-0000-4000-8000-0000000000aa';
      await meta.createUpload({ id: uploadId, repositoryId: repo.id, size: 0, createdAt: 1 });
      await meta.putManifest(manifest(repo.id, 'm', { blobDigests: [d('layer')] }));
      expect(await usage.deleteRegistry('acme')).toEqual({ repositories: ['acme/app'], uploadIds: [uploadId] });
      expect(await usage.getAccount('acme')).toBeUndefined();
      expect(await usage.deleteRegistry('acme')).toBeUndefined();
      expect(await meta.listRepositories(10)).toEqual(['other/app']);
    }));

    it('gc: runs, one active per registry', withStores(async ({ access, gc }) => {
      const reg = await access.createRegistry('acme', false);
      const run = { id: 'r1', registryId: reg.id, type: 'untagged manifests only' as const, status: 'requested' as const, dryRun: true, createdAt: 1, updatedAt: 1, manifestsDeleted: 0, blobsDeleted: 0, freedBytes: 0, error: null };
      expect(await gc.createRun(run)).toEqual({ run });
      expect(await gc.createRun({ ...run, id: 'r2', createdAt: 2 })).toEqual({ active: run });
      await gc.updateRun('r1', { status: 'cancelling', updatedAt: 3 }, 'unfinished');
      await gc.updateRun('r1', { status: 'deleting unreferenced blobs', freedBytes: 2 ** 40, updatedAt: 4 }, 'progress');
      expect(await gc.activeRun(reg.id)).toMatchObject({ status: 'cancelling', freedBytes: 0, dryRun: true });
      expect(await gc.failUnfinishedRuns('restarted', 5)).toBe(1);
      expect(await gc.getRun('r1')).toMatchObject({ status: 'failed', error: 'restarted', updatedAt: 5 });
      expect(await gc.activeRun(reg.id)).toBeUndefined();
      await gc.createRun({ ...run, id: 'r2', createdAt: 2, dryRun: false });
      await gc.updateRun('r2', { status: 'succeeded', freedBytes: 2 ** 40, updatedAt: 6 });
      const { runs, total } = await gc.listRuns(reg.id, 1, 0);
      expect(total).toBe(2);
      expect(runs).toEqual([expect.objectContaining({ id: 'r2', freedBytes: 2 ** 40, dryRun: false })]);
    }));

    it('gc: the manifest graph, links, blobs and sessions', withStores(async ({ meta, gc, access }) => {
      const repo = await meta.ensureRepository(parseRepoName('acme/app'), 'acme');
      const registryId = (await access.getRegistry('acme'))!.id;
      await meta.linkBlob(repo.id, d('l1'), 10);
      await meta.linkBlob(repo.id, d('l2'), 20);
      const image = await meta.putManifest(manifest(repo.id, 'image', { blobDigests: [d('l1')] }));
      const index = await meta.putManifest(manifest(repo.id, 'index', { childDigests: [d('image')] }));
      await meta.setTag(repo.id, 'latest', index);
      expect(await gc.repositories(registryId)).toEqual([{ id: repo.id, name: 'acme/app' }]);
      const graph = await gc.manifestGraph(repo.id);
      expect(graph.manifests.map((m) => m.id).sort()).toEqual([image, index].sort());
      expect(graph.taggedIds).toEqual([index]);
      expect(graph.children).toEqual([{ parentId: index, digest: d('image') }]);
      expect((await gc.oldLinks(repo.id, Date.now() + 1000)).map((l) => l.digest).sort()).toEqual([d('l1'), d('l2')].sort());
      expect(await gc.referencesIn(repo.id)).toHaveLength(2);
      expect(await gc.isReferencedIn(repo.id, d('l1'))).toBe(true);
      expect(await gc.isReferencedIn(repo.id, d('l2'))).toBe(false);
      expect(await gc.registryBlob(registryId, d('l2'))).toEqual({ size: 20, refs: 1 });
      expect(typeof (await gc.linkCreatedAt(repo.id, d('l2')))).toBe('number');

      const uploadId = '00000000-0000-4000-8000-0000000000bb';
      await meta.createUpload({ id: uploadId, repositoryId: repo.id, size: 0, createdAt: 1 });
      expect(await gc.openSessions([uploadId, 'gone'])).toEqual(new Set([uploadId]));
      expect(await gc.idleSessions(Date.now() + 1000, 10)).toEqual([uploadId]);
      expect(typeof (await gc.sessionUpdatedAt(uploadId))).toBe('number');

      const deleted = await gc.transaction(async (tx) => {
        expect(await tx.meta.unlinkBlob(repo.id, d('l2'))).toBe(true);
        const state = await tx.blobState(d('l2'));
        expect(state).toMatchObject({ linked: false, referenced: false, row: { size: 20 } });
        await tx.deleteBlobRow(d('l2'));
        return tx.deleteSession(uploadId);
      });
      expect(deleted).toBe(true);
      expect(await gc.knownBlobs([d('l1'), d('l2')])).toEqual(new Set([d('l1')]));
      expect(await meta.registryStorage('acme')).toBe(10 + 'image'.length + 'index'.length);
      await meta.unlinkBlob(repo.id, d('l1'));
      await meta.deleteManifest(repo.id, d('image'));
      expect(await gc.unlinkedBlobs(Date.now() + 1000, '', 10)).toEqual([d('l1')]);
    }));

    it('repository queries: summaries, tags and manifests, deletion', withStores(async ({ meta, repositoryQueries: q }) => {
      const a = await meta.ensureRepository(parseRepoName('acme/a'), 'acme');
      const b = await meta.ensureRepository(parseRepoName('acme/b'), 'acme');
      await meta.linkBlob(a.id, d('layer'), 100);
      const one = await meta.putManifest(manifest(a.id, 'one', { blobDigests: [d('layer')] }));
      const two = await meta.putManifest(manifest(a.id, 'two'));
      await meta.setTag(a.id, 'v1', one);
      await meta.setTag(a.id, 'v2', two);
      expect(await q.repositoriesOf('acme')).toEqual([{ id: a.id, name: 'acme/a' }, { id: b.id, name: 'acme/b' }]);
      const [sa, sb] = await q.summarize(await q.repositoriesOf('acme'));
      expect(sa).toMatchObject({ tagCount: 2, manifestCount: 2 });
      expect([one, two]).toContain(sa!.latest!.id);
      expect(sb).toEqual({ id: b.id, name: 'acme/b', tagCount: 0, manifestCount: 0 });
      const tags = await q.tags(a.id, 1, 0);
      expect(tags.total).toBe(2);
      expect(tags.items).toHaveLength(1);
      const manifests = await q.manifests(a.id, 10, 0);
      expect(manifests.total).toBe(2);
      expect(manifests.items.map((m) => m.tags).sort()).toEqual([['v1'], ['v2']]);
      expect(manifests.items.every((m) => typeof m.updatedAt === 'number' && Buffer.isBuffer(m.body))).toBe(true);
      expect((await q.manifestsByDigest(a.id, [d('two'), d('nope')])).map((m) => m.id)).toEqual([two]);

      expect(await q.deleteRepository(a.id)).toEqual({ manifests: 2, blobs: 1, uploads: [] });
      expect(await meta.registryStorage('acme')).toBe(0);
      expect(await meta.listRepositories(10)).toEqual(['acme/b']);
    }));
  });
}
