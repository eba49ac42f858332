import { describe, expect, it } from 'vitest';
import { readImageManifest } from './image-manifest.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const body = (json: unknown) => Buffer.from(JSON.stringify(json));
const layer = (mediaType: string, n: number) => ({ mediaType, digest: d(n), size: 100 });
const image = (layers: object[], config = OCI_CONFIG, extra: object = {}) =>
  body({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: config, digest: d(9), size: 10 }, layers, ...extra });

describe('readImageManifest: images', () => {
  it('lists an OCI image’s layers bottom first, whatever their compression', () => {
    const manifest = image([
      layer('application/vnd.oci.image.layer.v1.tar+gzip', 1),
      layer('application/vnd.oci.image.layer.v1.tar+zstd', 2),
      layer('application/vnd.oci.image.layer.v1.tar', 3),
    ]);
    expect(readImageManifest(OCI_MANIFEST, manifest)).toEqual({ kind: 'image', layers: [d(1), d(2), d(3)] });
  });

  it('lists a Docker v2 image’s layers', () => {
    const manifest = body({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: DOCKER_CONFIG, digest: d(9), size: 10 },
      layers: [layer('application/vnd.docker.image.rootfs.diff.tar.gzip', 1), layer('application/vnd.docker.image.rootfs.diff.tar', 2)],
    });
    expect(readImageManifest(DOCKER_MANIFEST, manifest)).toEqual({ kind: 'image', layers: [d(1), d(2)] });
  });

  it('skips foreign and non-distributable layers (stored elsewhere), keeping the others', () => {
    const manifest = image([
      layer('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 1),
      layer('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 2),
      layer('application/vnd.oci.image.layer.nondistributable.v1.tar', 3),
      layer('application/vnd.oci.image.layer.v1.tar+gzip', 4),
    ]);
    expect(readImageManifest(OCI_MANIFEST, manifest)).toEqual({ kind: 'image', layers: [d(4)] });
  });

  it('reads an image without layers as one with nothing to inventory', () => {
    expect(readImageManifest(OCI_MANIFEST, image([]))).toEqual({ kind: 'image', layers: [] });
    expect(readImageManifest(OCI_MANIFEST, body({ schemaVersion: 2, config: { mediaType: OCI_CONFIG, digest: d(9), size: 1 } }))).toEqual({ kind: 'image', layers: [] });
  });
});

describe('readImageManifest: artifacts', () => {
  it('calls a Helm chart (its config media type) an artifact', () => {
    const helm = image([layer('application/vnd.cncf.helm.chart.content.v1.tar+gzip', 1)], 'application/vnd.cncf.helm.config.v1+json');
    expect(readImageManifest(OCI_MANIFEST, helm)).toEqual({ kind: 'unsupported', reason: 'an artifact (application/vnd.cncf.helm.config.v1+json), not a container image' });
  });

  it('calls a manifest with an artifactType an artifact, even with an image config and tar layers', () => {
    const sbom = image([layer('application/vnd.oci.image.layer.v1.tar+gzip', 1)], OCI_CONFIG, { artifactType: 'application/spdx+json' });
    expect(readImageManifest(OCI_MANIFEST, sbom)).toEqual({ kind: 'unsupported', reason: 'an artifact (application/spdx+json), not a container image' });
  });

  it('calls an OCI 1.1 artifact with the empty config an artifact', () => {
    const signature = image([{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: d(1), size: 1 }], 'application/vnd.oci.empty.v1+json');
    expect(readImageManifest(OCI_MANIFEST, signature)).toEqual({ kind: 'unsupported', reason: 'an artifact (application/vnd.oci.empty.v1+json), not a container image' });
  });

  it('refuses an image with a layer that is not a filesystem, naming it', () => {
    const cosign = image([layer('application/vnd.oci.image.layer.v1.tar+gzip', 1), layer('application/vnd.dev.cosign.simplesigning.v1+json', 2)]);
    expect(readImageManifest(OCI_MANIFEST, cosign)).toEqual({
      kind: 'unsupported',
      reason: `layer ${d(2)} has type application/vnd.dev.cosign.simplesigning.v1+json, which is not a filesystem layer`,
    });
    // Near misses of the layer types are not filesystem layers either.
    for (const type of ['application/vnd.oci.image.layer.v1.tar+bzip2', 'application/vnd.oci.image.layer.v1.tar.gzip.extra', 'x-application/vnd.oci.image.layer.v1.tar']) {
      expect(readImageManifest(OCI_MANIFEST, image([layer(type, 1)])).kind).toBe('unsupported');
    }
  });

  it('does not scan manifest types it does not know', () => {
    const schema1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
    expect(readImageManifest(schema1, body({ schemaVersion: 1, fsLayers: [] }))).toEqual({ kind: 'unsupported', reason: `manifests of type ${schema1} are not scanned` });
  });
});

describe('readImageManifest: indexes', () => {
  it('lists an OCI index’s image manifests with their platforms, skipping buildx attestations', () => {
    const index = body({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: d(1), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: OCI_MANIFEST, digest: d(2), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
        {
          mediaType: OCI_MANIFEST,
          digest: d(3),
          size: 1,
          platform: { os: 'unknown', architecture: 'unknown' },
          annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': d(1) },
        },
        { mediaType: OCI_MANIFEST, digest: d(4), size: 1 },
      ],
    });
    expect(readImageManifest(OCI_INDEX, index)).toEqual({
      kind: 'index',
      children: [
        { digest: d(1), platform: 'linux/amd64' },
        { digest: d(2), platform: 'linux/arm/v7' },
        { digest: d(4) },
      ],
    });
  });

  it('lists a Docker manifest list’s images, leaving out entries that are not image manifests', () => {
    const list = body({
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [
        { mediaType: DOCKER_MANIFEST, digest: d(1), size: 1, platform: { os: 'windows', architecture: 'amd64' } },
        { mediaType: OCI_INDEX, digest: d(2), size: 1 },
        { mediaType: 'application/vnd.example.thing+json', digest: d(3), size: 1 },
        { digest: d(4), size: 1 },
        { mediaType: DOCKER_MANIFEST, size: 1 },
      ],
    });
    expect(readImageManifest(DOCKER_LIST, list)).toEqual({ kind: 'index', children: [{ digest: d(1), platform: 'windows/amd64' }] });
  });

  it('reads an empty index as one without platforms', () => {
    expect(readImageManifest(OCI_INDEX, body({ schemaVersion: 2, manifests: [] }))).toEqual({ kind: 'index', children: [] });
    expect(readImageManifest(OCI_INDEX, body({ schemaVersion: 2 }))).toEqual({ kind: 'index', children: [] });
  });
});
