/**
 * CycloneDX 1.5 JSON BOMs.
 *
 * The image is `metadata.component` (type `container`); the operating system
 * and every package are flat `components`. `dependencies` records what holds
 * what, as Trivy lays it out: the image holds the OS and the language
 * packages, the OS holds the distro packages. Where a package was found goes
 * in `berth:` properties.
 */
import type { InstalledPackage } from '../inventory.js';
import type { PreparedSbom, SbomPackage } from './index.js';
import { spdxLicenseExpression, spdxLicenseId } from './spdx.js';

export interface CycloneDxBom {
  $schema: string;
  bomFormat: 'CycloneDX';
  specVersion: '1.5';
  serialNumber: string;
  version: 1;
  metadata: {
    timestamp: string;
    tools: { components: Array<{ type: 'application'; name: string; version: string }> };
    component: CycloneDxComponent;
    properties?: CycloneDxProperty[];
  };
  components: CycloneDxComponent[];
  dependencies: Array<{ ref: string; dependsOn: string[] }>;
}

export interface CycloneDxComponent {
  'bom-ref': string;
  type: 'container' | 'operating-system' | 'library';
  name: string;
  version?: string;
  description?: string;
  purl?: string;
  licenses?: CycloneDxLicenses;
  properties?: CycloneDxProperty[];
}

/** Either named or listed licenses, or exactly one SPDX expression: the schema does not allow a mix. */
export type CycloneDxLicenses = Array<{ license: { id: string } | { name: string } }> | [{ expression: string }];

export interface CycloneDxProperty {
  name: string;
  value: string;
}

const DISTRO_SCHEMES: ReadonlySet<InstalledPackage['versionScheme']> = new Set(['dpkg', 'apk', 'rpm']);

export function cycloneDxBom(sbom: PreparedSbom): CycloneDxBom {
  const { image, os } = sbom;
  const imageRef = sbom.imagePurl;
  const osRef = os ? `os:${os.id}${os.versionId ? `@${os.versionId}` : ''}` : undefined;
  const components: CycloneDxComponent[] = [];
  if (os && osRef) {
    components.push({
      'bom-ref': osRef,
      type: 'operating-system',
      name: os.id,
      ...(os.versionId ? { version: os.versionId } : {}),
      description: os.prettyName || os.id,
    });
  }
  const packageRefs = { distro: [] as string[], other: [] as string[] };
  for (const entry of sbom.packages) {
    const component = libraryComponent(entry);
    components.push(component);
    (osRef && DISTRO_SCHEMES.has(entry.pkg.versionScheme) ? packageRefs.distro : packageRefs.other).push(component['bom-ref']);
  }

  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.5.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${sbom.uuid}`,
    version: 1,
    metadata: {
      timestamp: sbom.timestamp,
      tools: { components: [{ type: 'application', name: 'berth', version: sbom.toolVersion }] },
      component: {
        'bom-ref': imageRef,
        type: 'container',
        name: `${image.registry}/${image.repository}`,
        version: image.digest,
        purl: sbom.imagePurl,
      },
      ...(sbom.notes.length > 0 ? { properties: sbom.notes.map((value) => ({ name: 'berth:inventory_note', value })) } : {}),
    },
    components,
    dependencies: [
      { ref: imageRef, dependsOn: [...(osRef ? [osRef] : []), ...packageRefs.other] },
      ...(osRef ? [{ ref: osRef, dependsOn: packageRefs.distro }] : []),
    ],
  };
}

function libraryComponent({ pkg, purl, key }: SbomPackage): CycloneDxComponent {
  const licenses = cycloneDxLicenses(pkg.licenses);
  const properties: CycloneDxProperty[] = [
    ...(pkg.ecosystem ? [{ name: 'berth:ecosystem', value: pkg.ecosystem }] : []),
    { name: 'berth:location', value: pkg.location },
    { name: 'berth:layer_digest', value: pkg.layerDigest },
    ...(pkg.source ? [{ name: 'berth:source_name', value: pkg.source.name }] : []),
    ...(pkg.source?.version ? [{ name: 'berth:source_version', value: pkg.source.version }] : []),
  ];
  return {
    'bom-ref': `pkg-${key}`,
    type: 'library',
    name: pkg.name,
    version: pkg.version,
    ...(purl ? { purl } : {}),
    ...(licenses ? { licenses } : {}),
    properties,
  };
}

/**
 * One listed id as `license.id`; anything else that is an SPDX expression as
 * `expression`; otherwise each declared license on its own, by id when it is
 * one and by name (as written) when it is not.
 */
export function cycloneDxLicenses(declared: readonly string[] | undefined): CycloneDxLicenses | undefined {
  if (!declared || declared.length === 0) return undefined;
  const expression = spdxLicenseExpression(declared);
  if (expression !== undefined) {
    const id = spdxLicenseId(expression);
    return id ? [{ license: { id } }] : [{ expression }];
  }
  return declared.map((text) => {
    const id = spdxLicenseId(text);
    return id ? { license: { id } } : { license: { name: text } };
  });
}
