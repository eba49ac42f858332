import { describe, expect, it } from 'vitest';
import { digestBytes, type Digest } from '../../oci/digest.js';
import { parseRepoName } from '../../oci/name.js';
import type { MetaStore, NewManifest } from './meta-store.js';

export interface MetaStoreFixture {
  meta: MetaStore;
  cleanup(): Promise<void>;
}

const d = (s: string): Digest => digestBytes(Buffer.from(s));

function manifest(repositoryId: number, body: string, extra: Partial<NewManifest> = {}): NewManifest {
  return {
    repositoryId,
    digest: d(body),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: body.length,
    body: Buffer.from(body),
    blobDigests: [],
    childDigests: [],
    ...extra,
  };
}

/** The one suite every MetaStore implementation must pass. */
export function describeMetaStore(name: string, create: () => Promise<MetaStoreFixture>): void {
  describe(`MetaStore: ${name}`, () => {
    const withMeta = (test: (meta: MetaStore) => Promise<void>) => async () => {
      const f = await create();
      try {
        await test(f.meta);
      } finally {
        await f.cleanup();
      }
    };

    it('creates repositories once, in their registry, and lists them in lexical order', withMeta(async (meta) => {
      const a = await meta.ensureRepository(parseRepoName('team/b'), 'team');
      const again = await meta.ensureRepository(parseRepoName('team/b'), 'team');
      expect(again.id).toBe(a.id);
      expect(a.registry).toBe('team');
      await meta.ensureRepository(parseRepoName('team/a'), 'team');
      await meta.ensureRepository(parseRepoName('alpine'), 'library');
      expect(await meta.listRepositories(10)).toEqual(['alpine', 'team/a', 'team/b']);
      expect(await meta.listRepositories(1, 'alpine')).toEqual(['team/a']);
      expect(await meta.getRepository(parseRepoName('nope'))).toBeUndefined();
    }));

    it('links blobs per repository', withMeta(async (meta) => {
      const r1 = await meta.ensureRepository(parseRepoName('r1'), 'library');
      const r2 = await meta.ensureRepository(parseRepoName('r2'), 'library');
      await meta.linkBlob(r1.id, d('x'), 1);
      await meta.linkBlob(r1.id, d('x'), 1);
      expect(await meta.getRepositoryBlob(r1.id, d('x'))).toEqual({ size: 1 });
      expect(await meta.getRepositoryBlob(r2.id, d('x'))).toBeUndefined();
      expect(await meta.findRepositoryBlob(parseRepoName('r1'), d('x'))).toEqual({ size: 1 });
      expect(await meta.findRepositoryBlob(parseRepoName('r2'), d('x'))).toBeUndefined();
      expect(await meta.getBlob(d('x'))).toEqual({ size: 1 });
      expect([...(await meta.getRepositoryBlobs(r1.id, [d('x'), d('y')])).entries()]).toEqual([[d('x'), 1]]);
      expect(await meta.unlinkBlob(r1.id, d('x'))).toBe(true);
      expect(await meta.unlinkBlob(r1.id, d('x'))).toBe(false);
    }));

    it('keeps upload sessions', withMeta(async (meta) => {
      const r = await meta.ensureRepository(parseRepoName('u'), 'library');
      const id = '00000000-0000-4000-8000-000000000001';
      await meta.createUpload({ id, repositoryId: r.id, size: 0, createdAt: 1 });
      await meta.setUploadSize(id, 42);
      expect(await meta.getUpload(id)).toMatchObject({ id, repositoryId: r.id, size: 42 });
      await meta.deleteUpload(id);
      expect(await meta.getUpload(id)).toBeUndefined();
    }));

    it('stores manifests idempotently, tags them, moves and deletes tags', withMeta(async (meta) => {
      const r = await meta.ensureRepository(parseRepoName('m'), 'library');
      const id1 = await meta.putManifest(manifest(r.id, 'one', { blobDigests: [d('l'), d('l')] }));
      expect(await meta.putManifest(manifest(r.id, 'one'))).toBe(id1);
      const id2 = await meta.putManifest(manifest(r.id, 'two'));
      await meta.setTag(r.id, 'latest', id1);
      expect((await meta.getManifestByTag(r.id, 'latest'))?.digest).toBe(d('one'));
      expect((await meta.findManifest(parseRepoName('m'), { tag: 'latest' }))?.body.toString()).toBe('one');
      expect((await meta.findManifest(parseRepoName('m'), { digest: d('two') }))?.id).toBe(id2);
      expect(await meta.findManifest(parseRepoName('other'), { tag: 'latest' })).toBeUndefined();
      expect(await meta.findManifest(parseRepoName('m'), { tag: 'nope' })).toBeUndefined();
      await meta.setTag(r.id, 'latest', id2);
      expect((await meta.getManifestByTag(r.id, 'latest'))?.body.toString()).toBe('two');
      await meta.setTag(r.id, 'b', id2);
      await meta.setTag(r.id, 'a', id2);
      expect(await meta.listTags(r.id, 2)).toEqual(['a', 'b']);
      expect(await meta.listTags(r.id, 10, 'a')).toEqual(['b', 'latest']);
      expect(await meta.deleteTag(r.id, 'a')).toBe(true);
      expect(await meta.deleteTag(r.id, 'a')).toBe(false);
      expect(await meta.deleteManifest(r.id, d('two'))).toBe(true);
      expect(await meta.getManifestByTag(r.id, 'latest')).toBeUndefined();
      expect(await meta.listTags(r.id, 10)).toEqual([]);
      expect((await meta.getManifestByDigest(r.id, d('one')))?.size).toBe(3);
    }));

    it('lists referrers of a subject, filtered by artifact type', withMeta(async (meta) => {
      const r = await meta.ensureRepository(parseRepoName('ref'), 'library');
      const subject = d('subject');
      await meta.putManifest(manifest(r.id, 'sig', { subjectDigest: subject, artifactType: 'application/sig', annotations: { k: 'v' } }));
      await meta.putManifest(manifest(r.id, 'sbom', { subjectDigest: subject, artifactType: 'application/sbom' }));
      const all = await meta.listReferrers(r.id, subject);
      expect(all.map((x) => x.digest).sort()).toEqual([d('sig'), d('sbom')].sort());
      const sigs = await meta.listReferrers(r.id, subject, 'application/sig');
      expect(sigs).toEqual([{ digest: d('sig'), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 3, artifactType: 'application/sig', annotations: { k: 'v' } }]);
    }));

    it('counts storage once per registry, manifests included, and keeps a daily history', withMeta(async (meta) => {
      const a = await meta.ensureRepository(parseRepoName('acct/a'), 'acct');
      const b = await meta.ensureRepository(parseRepoName('acct/b'), 'acct');
      const other = await meta.ensureRepository(parseRepoName('else/c'), 'else');
      await meta.linkBlob(a.id, d('layer'), 1000);
      await meta.linkBlob(b.id, d('layer'), 1000); // same blob, same registry: counted once
      await meta.linkBlob(a.id, d('layer'), 1000); // already linked: no change
      await meta.linkBlob(other.id, d('layer'), 1000); // another registry counts it too
      await meta.putManifest(manifest(a.id, 'm1'));
      expect(await meta.registryStorage('acct')).toBe(1000 + 2);
      expect(await meta.registryStorage('else')).toBe(1000);
      await meta.unlinkBlob(a.id, d('layer'));
      expect(await meta.registryStorage('acct')).toBe(1002); // still held by acct/b
      await meta.unlinkBlob(b.id, d('layer'));
      await meta.deleteManifest(a.id, d('m1'));
      expect(await meta.registryStorage('acct')).toBe(0);
    }));

    it('rolls a transaction back when its work fails', withMeta(async (meta) => {
      await expect(
        meta.transaction(async (tx) => {
          await tx.ensureRepository(parseRepoName('ghost'), 'library');
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await meta.getRepository(parseRepoName('ghost'))).toBeUndefined();
    }));
  });
}
