/**
 * Package URLs (https://github.com/package-url/purl-spec) for inventoried
 * packages and for the image itself, in the spec's canonical form: lowercase
 * type, qualifiers sorted by key, empty qualifiers left out, and each
 * component percent-encoded except for A-Z a-z 0-9 `.-_~` and `:` (the spec
 * forbids encoding the colon, so `1:2.38.1-5` stays as it is while `+` becomes
 * `%2B`).
 */
import type { DetectedOs, InstalledPackage } from '../inventory.js';

export interface PurlParts {
  type: string;
  /** `/`-separated; each segment is encoded on its own. */
  namespace?: string;
  name: string;
  version?: string;
  /** Undefined or empty values are left out, as the spec requires. */
  qualifiers?: Record<string, string | undefined>;
  subpath?: string;
}

/** The image an SBOM describes, as the registry serves it. */
export interface OciImageRef {
  /** Host (and port) clients pull from: `registry.example.com`, `localhost:5000`. */
  registry: string;
  /** Repository path: `team/app`. */
  repository: string;
  /** Manifest digest: `sha256:…`. */
  digest: string;
  /** The tag the image was asked for by, when it was asked for by tag. */
  reference?: string;
}

const UNENCODED = /^[A-Za-z0-9._~:-]$/;

/** Percent-encodes one purl component (UTF-8, upper-case hex). */
export function encodePurlComponent(value: string): string {
  let out = '';
  for (const char of value) {
    if (UNENCODED.test(char)) {
      out += char;
      continue;
    }
    for (const byte of Buffer.from(char, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function encodeSegments(path: string, drop: (segment: string) => boolean): string {
  return path
    .split('/')
    .filter((segment) => !drop(segment))
    .map(encodePurlComponent)
    .join('/');
}

export function formatPurl(parts: PurlParts): string {
  let purl = `pkg:${parts.type.toLowerCase()}/`;
  const namespace = parts.namespace ? encodeSegments(parts.namespace, (s) => s === '') : '';
  if (namespace) purl += `${namespace}/`;
  purl += encodePurlComponent(parts.name);
  if (parts.version) purl += `@${encodePurlComponent(parts.version)}`;
  const qualifiers = Object.entries(parts.qualifiers ?? {})
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '')
    .map(([key, value]) => [key.toLowerCase(), value] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (qualifiers.length > 0) purl += `?${qualifiers.map(([key, value]) => `${key}=${encodePurlComponent(value)}`).join('&')}`;
  const subpath = parts.subpath ? encodeSegments(parts.subpath, (s) => s === '' || s === '.' || s === '..') : '';
  if (subpath) purl += `#${subpath}`;
  return purl;
}

/**
 * `pkg:oci/<last repository segment>@<digest>?repository_url=<registry>/<repository>&tag=<tag>`:
 * the oci type keeps the name registry-agnostic and says where the image lives in `repository_url`.
 */
export function imagePurl(image: OciImageRef): string {
  const name = image.repository.split('/').pop() ?? image.repository;
  const tag = image.reference && !image.reference.includes(':') ? image.reference : undefined;
  return formatPurl({
    type: 'oci',
    name: name.toLowerCase(),
    version: image.digest,
    qualifiers: { repository_url: `${image.registry}/${image.repository}`, tag },
  });
}

/**
 * The purl of an inventoried package, or undefined when none can be written
 * truthfully: a distro package whose OS is unknown (deb, apk and rpm purls
 * need the vendor as namespace), or an ecosystem purl has no type for.
 */
export function packagePurl(pkg: InstalledPackage, os: DetectedOs | null): string | undefined {
  switch (pkg.versionScheme) {
    case 'dpkg':
    case 'apk':
    case 'rpm':
      return os ? distroPurl(pkg, os) : undefined;
  }
  switch (pkg.ecosystem) {
    case 'npm':
      return npmPurl(pkg);
    case 'PyPI':
      // PEP 503 normalisation, which the pypi type requires.
      return formatPurl({ type: 'pypi', name: pkg.name.toLowerCase().replace(/[-_.]+/g, '-'), version: pkg.version });
    case 'Go':
      return goPurl(pkg);
    case 'crates.io':
      return formatPurl({ type: 'cargo', name: pkg.name, version: pkg.version });
    default:
      return undefined;
  }
}

/** os-release IDs whose purl vendor is spelt differently (as Trivy and Syft spell it). */
const DISTRO_VENDOR: Record<string, string> = { rhel: 'redhat' };

function distroPurl(pkg: InstalledPackage, os: DetectedOs): string {
  const id = os.id.toLowerCase();
  const qualifiers: Record<string, string | undefined> = {
    arch: pkg.arch,
    distro: os.versionId ? `${id}-${os.versionId}` : id,
    upstream: upstreamQualifier(pkg, pkg.versionScheme === 'rpm' ? (v) => splitRpmEpoch(v).version : (v) => v),
  };
  const common = { namespace: DISTRO_VENDOR[id] ?? id, qualifiers };
  switch (pkg.versionScheme) {
    case 'dpkg':
      // deb versions keep their epoch (`1:2.38.1-5+deb12u3`), as the deb type's examples do.
      return formatPurl({ ...common, type: 'deb', name: pkg.name.toLowerCase(), version: pkg.version });
    case 'apk':
      return formatPurl({ ...common, type: 'apk', name: pkg.name.toLowerCase(), version: pkg.version });
    default: {
      // rpm: the epoch is a qualifier and the version is version-release alone.
      const { epoch, version } = splitRpmEpoch(pkg.version);
      return formatPurl({ ...common, type: 'rpm', name: pkg.name, version, qualifiers: { ...qualifiers, epoch } });
    }
  }
}

/**
 * The source package a binary was built from, in Syft's `upstream` qualifier
 * (not in the purl spec, but read by Grype and others): `name` when only the
 * name differs, `name@version` when the version does too (binNMUs, apk
 * subpackages built at another release). Left out when it adds nothing.
 * `comparable` strips what the two versions may spell differently (rpm
 * SOURCERPM file names carry no epoch).
 */
function upstreamQualifier(pkg: InstalledPackage, comparable: (version: string) => string): string | undefined {
  const source = pkg.source;
  if (!source) return undefined;
  const sourceVersion = comparable(source.version);
  const versionDiffers = sourceVersion !== '' && sourceVersion !== comparable(pkg.version);
  if (source.name === pkg.name && !versionDiffers) return undefined;
  return versionDiffers ? `${source.name}@${sourceVersion}` : source.name;
}

/** `1:3.0.7-27.el9` → epoch `1`, version `3.0.7-27.el9`; a zero epoch is the same as none and is left out. */
function splitRpmEpoch(full: string): { epoch?: string; version: string } {
  const match = /^(\d+):(.*)$/.exec(full);
  if (!match) return { version: full };
  const [, epoch, version] = match as unknown as [string, string, string];
  return { epoch: Number(epoch) === 0 ? undefined : epoch, version };
}

/** `@scope/name` → namespace `@scope` (encoded `%40scope`), name `name`; npm names are lower case by rule. */
function npmPurl(pkg: InstalledPackage): string {
  const slash = pkg.name.startsWith('@') ? pkg.name.indexOf('/') : -1;
  const namespace = slash > 0 ? pkg.name.slice(0, slash) : undefined;
  const name = slash > 0 ? pkg.name.slice(slash + 1) : pkg.name;
  return formatPurl({ type: 'npm', namespace: namespace?.toLowerCase(), name: name.toLowerCase(), version: pkg.version });
}

/**
 * Module path split into namespace segments and a last-segment name, case
 * kept: module paths are case-sensitive (github.com/Azure/…), the spec only
 * warns about upper case, and Trivy, Syft and OSV keep it. The standard
 * library is `pkg:golang/stdlib@1.21.5` (version without `go`), the form
 * Trivy and Syft write and OSV's purl queries match. A version that names no
 * release (`(devel)`, which Go writes for a module built from a source tree,
 * or a `devel …` toolchain) is left out rather than written as one.
 */
function goPurl(pkg: InstalledPackage): string {
  if (pkg.name === 'stdlib') {
    const release = /^go(\d[^\s]*)/.exec(pkg.version.trim());
    return formatPurl({ type: 'golang', name: 'stdlib', version: release?.[1] });
  }
  const segments = pkg.name.split('/');
  const name = segments.pop()!;
  const version = pkg.version === '(devel)' ? undefined : pkg.version;
  return formatPurl({ type: 'golang', namespace: segments.join('/'), name, version });
}
