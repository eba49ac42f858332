import { parseDigest, type Digest } from '../digest.js';
import { RegistryError } from '../errors.js';
import { MediaType, MANIFEST_MEDIA_TYPES, isIndexMediaType } from '../media-types.js';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Record<string, unknown>;
}

/** What Berth needs to know of a manifest to store it and keep its references. */
export interface ParsedManifest {
  mediaType: string;
  /** config + layers of an image manifest: blobs that must exist in the repository. */
  blobs: Descriptor[];
  /** manifests of an index: child manifests that must exist in the repository. */
  children: Descriptor[];
  subject?: Descriptor;
  /** artifactType, or for image manifests without one, the config's media type (as the referrers API reports it). */
  artifactType?: string;
  annotations?: Record<string, string>;
}

/**
 * Parses and validates a manifest body against its media type.
 * `contentType` is the request's Content-Type; the body's own `mediaType`, when
 * present, must agree with it.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw invalid(`manifest is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(json)) throw invalid('manifest must be a JSON object');

  const declared = json.mediaType;
  if (declared !== undefined && typeof declared !== 'string') throw invalid('mediaType must be a string');
  const header = normaliseContentType(contentType);
  const mediaType = resolveMediaType(header, declared);

  if (json.schemaVersion !== 2) {
    throw invalid(`schemaVersion must be 2 for ${mediaType}, got ${JSON.stringify(json.schemaVersion)}`);
  }

  const subject = json.subject === undefined ? undefined : descriptor(json.subject, 'subject');
  const annotations = stringMap(json.annotations, 'annotations');
  if (json.artifactType !== undefined && typeof json.artifactType !== 'string') {
    throw invalid('artifactType must be a string');
  }

  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(json.manifests)) throw invalid('an index must have a "manifests" array');
    const children = json.manifests.map((m, i) => descriptor(m, `manifests[${i}]`));
    return { mediaType, blobs: [], children, subject, artifactType: json.artifactType as string | undefined, annotations };
  }

  if (json.config === undefined) throw invalid('an image manifest must have a "config" descriptor');
  const config = descriptor(json.config, 'config');
  if (!Array.isArray(json.layers)) throw invalid('an image manifest must have a "layers" array');
  const layers = json.layers.map((l, i) => descriptor(l, `layers[${i}]`));
  const artifactType = (json.artifactType as string | undefined) ?? (mediaType === MediaType.OciManifest ? config.mediaType : undefined);
  return { mediaType, blobs: [config, ...layers], children: [], subject, artifactType, annotations };
}

function resolveMediaType(header: string | undefined, declared: string | undefined): string {
  for (const t of [header, declared]) {
    if (t === MediaType.DockerSchema1 || t === MediaType.DockerSchema1Signed) {
      throw invalid(
        'Docker schema 1 manifests are deprecated and not accepted; push with schema 2 or OCI (e.g. `skopeo copy --format v2s2`)',
      );
    }
  }
  if (header && declared && header !== declared) {
    throw invalid(`Content-Type ${header} does not match the manifest's mediaType ${declared}`);
  }
  const mediaType = declared ?? header;
  if (!mediaType) throw invalid('manifest media type unknown: set Content-Type or the mediaType field');
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw invalid(`unsupported manifest media type: ${mediaType}`, { supported: MANIFEST_MEDIA_TYPES });
  }
  return mediaType;
}

/** Strips parameters (`; charset=utf-8`) and treats generic JSON types as "not stated". */
function normaliseContentType(contentType: string | undefined): string | undefined {
  const t = contentType?.split(';')[0]?.trim().toLowerCase();
  if (!t || t === 'application/json' || t === 'application/octet-stream') return undefined;
  return t;
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size, artifactType } = value;
  if (typeof mediaType !== 'string' || mediaType.length === 0) throw invalid(`${where}.mediaType must be a non-empty string`);
  if (typeof digest !== 'string') throw invalid(`${where}.digest must be a string`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  let parsed: Digest;
  try {
    parsed = parseDigest(digest).digest;
  } catch (err) {
    throw invalid(`${where}.digest: ${(err as Error).message}`);
  }
  if (artifactType !== undefined && typeof artifactType !== 'string') throw invalid(`${where}.artifactType must be a string`);
  const d: Descriptor = { mediaType, digest: parsed, size };
  if (artifactType !== undefined) d.artifactType = artifactType as string;
  const annotations = stringMap(value.annotations, `${where}.annotations`);
  if (annotations) d.annotations = annotations;
  if (value.platform !== undefined) {
    if (!isObject(value.platform)) throw invalid(`${where}.platform must be an object`);
    d.platform = value.platform;
  }
  return d;
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw invalid(`${where} must be an object of strings`);
  }
  return value as Record<string, string>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, detail);
}
