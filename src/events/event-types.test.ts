import { describe, expect, it } from 'vitest';
import type { Digest } from '../oci/digest.js';
import type { RepoName } from '../oci/name.js';
import { eventOfChange, outboxEvent, tagsOf, toCloudEvent, toDistributionEnvelope } from './event-types.js';

const digest = `sha256:${'a'.repeat(64)}` as Digest;
const repo = 'team-a/app/web' as RepoName;
const at = Date.parse('2026-03-01T12:00:00.000Z');
const source = { addr: 'node-1', instanceID: 'i-1' };

describe('events of content changes', () => {
  it('a push carries tag, digest, media type, size, pusher and the docker pull reference', () => {
    const event = eventOfChange({ type: 'push', repository: repo, tag: 'v1', digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 512, actor: { name: 'alice', host: 'registry.example.com' } });
    expect(event).toEqual({
      type: 'push',
      registry: 'team-a',
      repository: repo,
      data: {
        registry: 'team-a',
        repository: repo,
        tag: 'v1',
        digest,
        media_type: 'application/vnd.oci.image.manifest.v1+json',
        size: 512,
        pusher: 'alice',
        pull_reference: 'registry.example.com/team-a/app/web:v1',
      },
    });
    const byDigest = eventOfChange({ type: 'push', repository: repo, digest, mediaType: 'x', size: 1, actor: { name: 'ci', host: 'r:5000' } });
    expect(byDigest.data).toMatchObject({ tag: null, pull_reference: `r:5000/team-a/app/web@${digest}` });
    expect(eventOfChange({ type: 'push', repository: repo, digest, mediaType: 'x', size: 1 }).data).toMatchObject({ pusher: null, pull_reference: null });
  });

  it('deletions name what went and who did it', () => {
    expect(eventOfChange({ type: 'tag.deleted', repository: repo, tag: 'v1', digest, actor: { name: 'bob' } }).data).toEqual({ registry: 'team-a', repository: repo, tag: 'v1', digest, actor: 'bob' });
    expect(eventOfChange({ type: 'manifest.deleted', repository: repo, digest, mediaType: 'm', tags: ['a', 'b'] }).data).toEqual({ registry: 'team-a', repository: repo, digest, media_type: 'm', tags: ['a', 'b'], actor: null });
    expect(eventOfChange({ type: 'repository.deleted', repository: 'alpine' as RepoName, manifests: 3, blobs: 7 })).toMatchObject({
      registry: 'library',
      data: { registry: 'library', repository: 'alpine', manifests_deleted: 3, blobs_unlinked: 7, actor: null },
    });
  });
});

describe('CloudEvents envelope', () => {
  it('is CloudEvents 1.0 structured JSON: id, source, type, subject, time, data', () => {
    const event = outboxEvent(eventOfChange({ type: 'push', repository: repo, tag: 'v1', digest, mediaType: 'm', size: 1 }), 'e-1', at);
    expect(toCloudEvent(event)).toEqual({
      specversion: '1.0',
      id: 'e-1',
      source: '/registries/team-a',
      type: 'berth.push',
      subject: 'team-a/app/web:v1',
      time: '2026-03-01T12:00:00.000Z',
      datacontenttype: 'application/json',
      data: event.data,
    });
  });

  it('names the subject by digest, repository or GC run, and leaves it out for registry-wide events', () => {
    const ce = (type: string, repository: string | null, data: Record<string, unknown>) => toCloudEvent({ id: 'x', type, registry: 'team-a', repository, occurredAt: at, data });
    expect(ce('manifest.deleted', repo, { digest }).subject).toBe(`${repo}@${digest}`);
    expect(ce('repository.deleted', repo, {}).subject).toBe(repo);
    expect(ce('gc.completed', null, { run_id: 'run-1' }).subject).toBe('run-1');
    expect(ce('quota.warning', null, { threshold_percent: 80 })).not.toHaveProperty('subject');
  });
});

describe('Distribution envelope', () => {
  it("carries pushes as Distribution's push action, with its target fields", () => {
    const event = outboxEvent(eventOfChange({ type: 'push', repository: repo, tag: 'v1', digest, mediaType: 'm', size: 9, actor: { name: 'alice', host: 'reg.example' } }), 'e-2', at);
    expect(toDistributionEnvelope(event, source)).toEqual({
      events: [
        {
          id: 'e-2',
          timestamp: '2026-03-01T12:00:00.000Z',
          action: 'push',
          target: { mediaType: 'm', digest, size: 9, length: 9, repository: repo, url: `https://reg.example/v2/${repo}/manifests/${digest}`, tag: 'v1' },
          request: { host: 'reg.example', method: 'PUT' },
          actor: { name: 'alice' },
          source,
        },
      ],
    });
  });

  it('carries deletions as delete and pulls as pull; has nothing for Berth-only events', () => {
    const del = outboxEvent(eventOfChange({ type: 'tag.deleted', repository: repo, tag: 'old', digest, actor: { name: 'bob' } }), 'e-3', at);
    expect(toDistributionEnvelope(del, source)!.events[0]).toMatchObject({ action: 'delete', target: { repository: repo, tag: 'old', digest }, actor: { name: 'bob' } });
    const pull = { id: 'e-4', type: 'pull', registry: 'team-a', repository: repo, occurredAt: at, data: { digest, media_type: 'm', size: 3, tag: 'v1', puller: 'carol' } };
    expect(toDistributionEnvelope(pull, source)!.events[0]).toMatchObject({ action: 'pull', target: { tag: 'v1' }, actor: { name: 'carol' } });
    expect(toDistributionEnvelope({ id: 'e-5', type: 'scan.completed', registry: 'team-a', repository: repo, occurredAt: at, data: {} }, source)).toBeUndefined();
  });
});

describe('tagsOf', () => {
  it('reads the tag, or the tags of a deleted manifest', () => {
    const e = (data: Record<string, unknown>) => ({ id: 'x', type: 't', registry: 'r', repository: null, occurredAt: 0, data });
    expect(tagsOf(e({ tag: 'v1' }))).toEqual(['v1']);
    expect(tagsOf(e({ tag: null }))).toEqual([]);
    expect(tagsOf(e({ tags: ['a', 'b'] }))).toEqual(['a', 'b']);
  });
});
