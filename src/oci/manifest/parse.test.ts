import { describe, expect, it } from 'vitest';
import { digestBytes } from '../digest.js';
import { MediaType } from '../media-types.js';
import { parseManifest } from './parse.js';

const blob = (s: string, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip') => ({ mediaType, digest: digestBytes(Buffer.from(s)), size: s.length });
const config = blob('{}', 'application/vnd.oci.image.config.v1+json');
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('parseManifest', () => {
  it('collects config and layers of an OCI image manifest, with the config type as artifact type', () => {
    const m = parseManifest(json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [blob('a'), blob('b')] }), MediaType.OciManifest);
    expect(m.blobs.map((b) => b.digest)).toEqual([config.digest, blob('a').digest, blob('b').digest]);
    expect(m.artifactType).toBe(config.mediaType);
  });

  it('collects the children of an index and its subject', () => {
    const child = blob('m', MediaType.OciManifest);
    const m = parseManifest(json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [child], subject: child, artifactType: 'x/y' }), undefined);
    expect(m.children).toEqual([child]);
    expect(m.subject?.digest).toBe(child.digest);
    expect(m.artifactType).toBe('x/y');
  });

  it('takes the media type from Content-Type when the body has none', () => {
    const m = parseManifest(json({ schemaVersion: 2, config, layers: [] }), `${MediaType.DockerManifest}; charset=utf-8`);
    expect(m.mediaType).toBe(MediaType.DockerManifest);
  });

  it.each([
    ['invalid JSON', Buffer.from('{'), MediaType.OciManifest, /not valid JSON/],
    ['schema 1', json({ schemaVersion: 1 }), MediaType.DockerSchema1Signed, /schema 1/],
    ['unknown media type', json({ schemaVersion: 2 }), 'application/x-unknown', /unsupported manifest media type/],
    ['type mismatch', json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }), MediaType.OciManifest, /does not match/],
    ['no media type', json({ schemaVersion: 2, config, layers: [] }), undefined, /media type unknown/],
    ['wrong schemaVersion', json({ schemaVersion: 3, mediaType: MediaType.OciManifest, config, layers: [] }), undefined, /schemaVersion/],
    ['missing config', json({ schemaVersion: 2, mediaType: MediaType.OciManifest, layers: [] }), undefined, /config/],
    ['bad layer digest', json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [{ ...blob('a'), digest: 'sha256:zz' }] }), undefined, /layers\[0\]\.digest/],
    ['negative size', json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { ...config, size: -1 }, layers: [] }), undefined, /size/],
    ['array body', json([]), MediaType.OciManifest, /JSON object/],
  ])('refuses %s with MANIFEST_INVALID', (_name, body, contentType, message) => {
    expect(() => parseManifest(body, contentType)).toThrowError(message);
    try {
      parseManifest(body, contentType);
    } catch (err) {
      expect((err as { code: string }).code).toBe('MANIFEST_INVALID');
    }
  });
});
