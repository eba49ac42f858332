import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import type { Inventory } from '../inventory.js';
import { cycloneDxLicenses, type CycloneDxComponent } from './cyclonedx.js';
import { writeSbom, type SbomInput } from './index.js';

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/sbom/${name}`, import.meta.url), 'utf8');
const inventories = JSON.parse(fixture('inventories.json')) as Record<'debian' | 'alpine' | 'rocky', Inventory>;

/** The official CycloneDX 1.5 schema (draft-07) with the two schemas it references. */
function bomValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  // Formats the schema uses that ajv-formats does not define; nothing Berth writes uses them.
  ajv.addFormat('iri-reference', true);
  ajv.addFormat('idn-email', true);
  ajv.addSchema(JSON.parse(fixture('spdx.schema.json')));
  ajv.addSchema(JSON.parse(fixture('jsf-0.82.schema.json')));
  return ajv.compile(JSON.parse(fixture('bom-1.5.schema.json')));
}

const digest = `sha256:${'9f'.repeat(32)}`;
const input = (inventory: Inventory, overrides: Partial<SbomInput> = {}): SbomInput => ({
  inventory,
  image: { registry: 'registry.example.com', repository: 'team/app', digest, reference: 'v1.4.2' },
  generatedAt: new Date('2024-05-01T12:00:00.123Z'),
  toolVersion: '0.1.0',
  ...overrides,
});

describe('CycloneDX BOM', () => {
  const validate = bomValidator();

  it.each([
    ['Debian with language packages', inventories.debian],
    ['Alpine', inventories.alpine],
    ['Rocky Linux', inventories.rocky],
    ['an unknown OS', { ...inventories.debian, os: null }],
    ['an empty inventory', { os: null, packages: [], notes: [] }],
  ])('is valid CycloneDX 1.5 for %s', (_, inventory) => {
    const bom = writeSbom('cyclonedx', input(inventory));
    expect(validate(JSON.parse(JSON.stringify(bom))), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  const bom = writeSbom('cyclonedx', input(inventories.debian));
  const byRef = new Map(bom.components.map((c) => [c['bom-ref'], c]));
  const find = (name: string, location?: string) =>
    bom.components.find((c) => c.name === name && (!location || c.properties?.some((p) => p.name === 'berth:location' && p.value === location)))!;

  it('describes the image as a container component with an oci purl', () => {
    expect(bom).toMatchObject({ bomFormat: 'CycloneDX', specVersion: '1.5', version: 1 });
    expect(bom.serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(bom.metadata.timestamp).toBe('2024-05-01T12:00:00Z');
    expect(bom.metadata.tools.components).toEqual([{ type: 'application', name: 'berth', version: '0.1.0' }]);
    expect(bom.metadata.component).toEqual({
      'bom-ref': `pkg:oci/app@${digest}?repository_url=registry.example.com%2Fteam%2Fapp&tag=v1.4.2`,
      type: 'container',
      name: 'registry.example.com/team/app',
      version: digest,
      purl: `pkg:oci/app@${digest}?repository_url=registry.example.com%2Fteam%2Fapp&tag=v1.4.2`,
    });
    expect(bom.metadata.properties).toEqual([{ name: 'berth:inventory_note', value: 'BerkeleyDB rpmdb at var/lib/rpm/Packages is not supported' }]);
  });

  it('lists the operating system and every package, each with a unique bom-ref', () => {
    expect(bom.components[0]).toEqual({ 'bom-ref': 'os:debian@12', type: 'operating-system', name: 'debian', version: '12', description: 'Debian GNU/Linux 12 (bookworm)' });
    expect(bom.components).toHaveLength(inventories.debian.packages.length + 1);
    expect(byRef.size).toBe(bom.components.length);
    expect(bom.components.slice(1).every((c) => c.type === 'library')).toBe(true);
    // The same lodash twice, at two places: two components.
    expect(bom.components.filter((c) => c.purl === 'pkg:npm/lodash@4.17.21')).toHaveLength(2);
  });

  it('gives each package its purl, version as installed, and where it was found', () => {
    const bsdutils = find('bsdutils');
    expect(bsdutils).toMatchObject({
      name: 'bsdutils',
      version: '1:2.38.1-5+deb12u3',
      purl: 'pkg:deb/debian/bsdutils@1:2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12&upstream=util-linux%402.38.1-5%2Bdeb12u3',
    });
    expect(bsdutils.properties).toEqual([
      { name: 'berth:ecosystem', value: 'Debian:12' },
      { name: 'berth:location', value: 'var/lib/dpkg/status' },
      { name: 'berth:layer_digest', value: `sha256:${'a1'.repeat(32)}` },
      { name: 'berth:source_name', value: 'util-linux' },
      { name: 'berth:source_version', value: '2.38.1-5+deb12u3' },
    ]);
    expect(find('@babel/core').purl).toBe('pkg:npm/%40babel/core@7.23.2');
    expect(find('stdlib')).toMatchObject({ version: 'go1.21.5', purl: 'pkg:golang/stdlib@1.21.5' });
  });

  it('writes licenses as an id, an expression, or names, never an invalid expression', () => {
    expect(find('lodash', 'app/node_modules/lodash/package.json').licenses).toEqual([{ license: { id: 'MIT' } }]);
    expect(find('serde').licenses).toEqual([{ expression: 'MIT OR Apache-2.0' }]);
    expect(find('libc6').licenses).toEqual([{ expression: 'LGPL-2.1+' }]);
    expect(find('zlib1g').licenses).toEqual([{ license: { id: 'Zlib' } }]); // Debian writes `zlib`
    // SPDX ids match whatever their case; Debian's GPL-2+ and public-domain are not SPDX ids.
    expect(find('bsdutils').licenses).toEqual([{ license: { name: 'GPL-2+' } }, { license: { id: 'BSD-4-Clause' } }, { license: { name: 'public-domain' } }]);
    expect(find('internal-tool').licenses).toEqual([{ license: { name: 'UNLICENSED' } }]);
    expect(find('github.com/Azure/go-autorest/autorest').licenses).toBeUndefined();
  });

  it('records that the image holds the OS and language packages, and the OS the distro packages', () => {
    const [image, os] = bom.dependencies;
    const names = (refs: string[]) => refs.map((ref) => byRef.get(ref)?.name).sort();
    expect(image!.ref).toBe(bom.metadata.component['bom-ref']);
    expect(names(image!.dependsOn)).toEqual(
      ['debian', '@babel/core', 'lodash', 'lodash', 'internal-tool', 'Typing_Extensions', 'zope.interface', 'github.com/Azure/go-autorest/autorest', 'golang.org/x/net', 'stdlib', 'serde'].sort(),
    );
    expect(os!.ref).toBe('os:debian@12');
    expect(names(os!.dependsOn)).toEqual(['bsdutils', 'gcc-12-base', 'libc6', 'libidn2-0', 'login', 'tzdata', 'zlib1g']);
  });

  it('hangs distro packages off the image and leaves out their purls when the OS is unknown', () => {
    const unknown = writeSbom('cyclonedx', input({ ...inventories.debian, os: null }));
    expect(unknown.components.some((c: CycloneDxComponent) => c.type === 'operating-system')).toBe(false);
    expect(unknown.components.find((c) => c.name === 'bsdutils')!.purl).toBeUndefined();
    expect(unknown.dependencies).toHaveLength(1);
    expect(unknown.dependencies[0]!.dependsOn).toHaveLength(inventories.debian.packages.length);
  });

  it('is reproducible: the same input gives the same document, whatever the package order; a new time gives a new serial number', () => {
    const reversed = { ...inventories.debian, packages: [...inventories.debian.packages].reverse() };
    expect(JSON.stringify(writeSbom('cyclonedx', input(reversed)))).toBe(JSON.stringify(bom));
    const later = writeSbom('cyclonedx', input(inventories.debian, { generatedAt: new Date('2024-05-02T12:00:00Z') }));
    expect(later.serialNumber).not.toBe(bom.serialNumber);
  });
});

describe('cycloneDxLicenses', () => {
  it.each([
    [['mit'], [{ license: { id: 'MIT' } }]],
    [['MIT', 'MIT'], [{ license: { id: 'MIT' } }]],
    [['MIT', 'Apache-2.0'], [{ expression: 'MIT AND Apache-2.0' }]],
    [['GPL-2.0-only WITH Classpath-exception-2.0'], [{ expression: 'GPL-2.0-only WITH Classpath-exception-2.0' }]],
    [['MIT', 'Custom'], [{ license: { id: 'MIT' } }, { license: { name: 'Custom' } }]],
    [['MIT or Apache-2.0'], [{ license: { name: 'MIT or Apache-2.0' } }]], // operators are upper case
  ])('%j', (declared, expected) => {
    expect(cycloneDxLicenses(declared)).toEqual(expected);
  });

  it('writes none for no declared license', () => {
    expect(cycloneDxLicenses(undefined)).toBeUndefined();
    expect(cycloneDxLicenses([])).toBeUndefined();
  });
});
