/** What a scan needs of a manifest: an image's layers, an index's platforms, or why it cannot be scanned. */

const IMAGE_MANIFESTS = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);
const INDEXES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const IMAGE_CONFIGS = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
/** Layer types holding a filesystem tar (compressed or not); non-distributable ones are stored elsewhere and left out. */
const TAR_LAYER = /^application\/vnd\.(oci\.image\.layer\.v1\.tar|docker\.image\.rootfs\.diff\.tar)(\.gzip|\+gzip|\+zstd)?$/;
const FOREIGN_LAYER = /nondistributable|foreign/;

export type ImageLayers = { kind: 'image'; layers: string[] };
export type ImageManifest =
  | ImageLayers
  | { kind: 'index'; children: { digest: string; platform?: string }[] }
  | { kind: 'unsupported'; reason: string };

interface Descriptor {
  mediaType?: string;
  digest?: string;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** Reads a stored (already validated) manifest for scanning. */
export function readImageManifest(mediaType: string, body: Buffer): ImageManifest {
  const json = JSON.parse(body.toString('utf8')) as { config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[]; artifactType?: string };
  if (INDEXES.has(mediaType)) {
    const children = (json.manifests ?? [])
      .filter((m) => m.digest && m.mediaType && IMAGE_MANIFESTS.has(m.mediaType))
      // Attestation manifests in buildx indexes claim platform unknown/unknown: not a platform to scan.
      .filter((m) => m.platform?.os !== 'unknown')
      .map((m) => ({ digest: m.digest!, ...(m.platform?.os ? { platform: platformName(m.platform) } : {}) }));
    return { kind: 'index', children };
  }
  if (!IMAGE_MANIFESTS.has(mediaType)) return { kind: 'unsupported', reason: `manifests of type ${mediaType} are not scanned` };
  const configType = json.config?.mediaType ?? '';
  if (json.artifactType || !IMAGE_CONFIGS.has(configType)) {
    return { kind: 'unsupported', reason: `an artifact (${json.artifactType ?? configType}), not a container image` };
  }
  const layers: string[] = [];
  for (const layer of json.layers ?? []) {
    const type = layer.mediaType ?? '';
    if (FOREIGN_LAYER.test(type)) continue;
    if (!TAR_LAYER.test(type)) return { kind: 'unsupported', reason: `layer ${layer.digest} has type ${type}, which is not a filesystem layer` };
    layers.push(layer.digest!);
  }
  return { kind: 'image', layers };
}

function platformName(p: NonNullable<Descriptor['platform']>): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
