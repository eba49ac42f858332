import { existsSync, readFileSync } from 'node:fs';
import { Ajv, type AnySchemaObject } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { Inventory } from '../inventory.js';
import { writeSbom, type SbomInput } from './index.js';
import { KNOWN_SPDX_IDS, normaliseLicenseExpression, spdxLicenseExpression, type SpdxPackage } from './spdx.js';

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/sbom/${name}`, import.meta.url), 'utf8');
const inventories = JSON.parse(fixture('inventories.json')) as Record<'debian' | 'alpine' | 'rocky', Inventory>;

/** The official SPDX 2.3 JSON schema, with the Ajv of the draft it declares (releases differ: draft-07, 2019-09). */
function documentValidator() {
  if (!existsSync(new URL('../../../test/fixtures/sbom/spdx-schema.json', import.meta.url))) {
    throw new Error('test/fixtures/sbom/spdx-schema.json is missing: the SPDX 2.3 JSON schema, schemas/spdx-schema.json of spdx/spdx-spec (see the README there)');
  }
  const schema = JSON.parse(fixture('spdx-schema.json')) as AnySchemaObject;
  const draft = String(schema.$schema ?? '');
  const options = { strict: false, allErrors: true };
  const ajv = draft.includes('2019-09') ? new Ajv2019(options) : draft.includes('2020-12') ? new Ajv2020(options) : new Ajv(options);
  return ajv.compile(schema);
}

const digest = `sha256:${'9f'.repeat(32)}`;
const input = (inventory: Inventory, overrides: Partial<SbomInput> = {}): SbomInput => ({
  inventory,
  image: { registry: 'registry.example.com', repository: 'team/app', digest },
  generatedAt: new Date('2024-05-01T12:00:00.123Z'),
  toolVersion: '0.1.0',
  ...overrides,
});

describe('SPDX document', () => {
  it.each([
    ['Debian with language packages', inventories.debian],
    ['Alpine', inventories.alpine],
    ['Rocky Linux', inventories.rocky],
    ['an unknown OS', { ...inventories.debian, os: null }],
    ['an empty inventory', { os: null, packages: [], notes: [] }],
  ])('is valid SPDX 2.3 for %s', (_, inventory) => {
    const validate = documentValidator();
    const document = writeSbom('spdx', input(inventory));
    expect(validate(JSON.parse(JSON.stringify(document))), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  const document = writeSbom('spdx', input(inventories.debian));
  const find = (name: string) => document.packages.find((p) => p.name === name)!;

  it('has the document fields SPDX 2.3 requires, created to the second', () => {
    expect(document).toMatchObject({
      spdxVersion: 'SPDX-2.3',
      dataLicense: 'CC0-1.0',
      SPDXID: 'SPDXRef-DOCUMENT',
      name: `registry.example.com/team/app@${digest}`,
      creationInfo: { created: '2024-05-01T12:00:00Z', creators: ['Tool: berth-0.1.0'] },
      comment: 'Inventory notes: BerkeleyDB rpmdb at var/lib/rpm/Packages is not supported',
      documentDescribes: ['SPDXRef-Image'],
    });
    expect(document.documentNamespace).toMatch(/^https:\/\/registry\.example\.com\/spdx\/team\/app\/[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('gives every package an SPDXID of the allowed characters, unique in the document', () => {
    const ids = document.packages.map((p) => p.SPDXID);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^SPDXRef-[A-Za-z0-9.-]+$/);
    expect(ids.slice(0, 2)).toEqual(['SPDXRef-Image', 'SPDXRef-OperatingSystem']);
    expect(find('@babel/core').SPDXID).toMatch(/^SPDXRef-Package--babel-core-[0-9a-f]{16}$/);
    expect(document.packages.filter((p) => p.name === 'lodash')).toHaveLength(2);
  });

  it('describes the image, which contains the OS and every package', () => {
    expect(document.relationships[0]).toEqual({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Image' });
    const contained = document.relationships.slice(1);
    expect(contained.every((r) => r.spdxElementId === 'SPDXRef-Image' && r.relationshipType === 'CONTAINS')).toBe(true);
    expect(contained.map((r) => r.relatedSpdxElement).sort()).toEqual(document.packages.slice(1).map((p) => p.SPDXID).sort());
  });

  it('describes the image as a container package with its oci purl', () => {
    expect(document.packages[0]).toEqual({
      SPDXID: 'SPDXRef-Image',
      name: 'registry.example.com/team/app',
      versionInfo: digest,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      primaryPackagePurpose: 'CONTAINER',
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: `pkg:oci/app@${digest}?repository_url=registry.example.com%2Fteam%2Fapp` }],
    });
  });

  it('gives packages their purl, source package and where they were found', () => {
    expect(find('login')).toMatchObject<Partial<SpdxPackage>>({
      versionInfo: '1:4.13+dfsg1-1+b1',
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      sourceInfo: 'built from source package shadow 1:4.13+dfsg1-1',
      externalRefs: [
        { referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: 'pkg:deb/debian/login@1:4.13%2Bdfsg1-1%2Bb1?arch=amd64&distro=debian-12&upstream=shadow%401:4.13%2Bdfsg1-1' },
      ],
    });
    expect(find('login').annotations!.map((a) => a.comment)).toEqual([
      'berth:ecosystem=Debian:12',
      'berth:location=var/lib/dpkg/status',
      `berth:layer_digest=sha256:${'a1'.repeat(32)}`,
    ]);
    expect(find('login').annotations![0]).toMatchObject({ annotationDate: '2024-05-01T12:00:00Z', annotationType: 'OTHER', annotator: 'Tool: berth-0.1.0' });
    expect(find('Typing_Extensions').externalRefs![0]!.referenceLocator).toBe('pkg:pypi/typing-extensions@4.8.0');
  });

  it('declares a license only when it is an SPDX expression, keeping what was written otherwise', () => {
    expect(find('serde')).toMatchObject({ licenseDeclared: 'MIT OR Apache-2.0', licenseConcluded: 'NOASSERTION' });
    expect(find('gcc-12-base').licenseDeclared).toBe('GPL-3.0-or-later WITH GCC-exception-3.1');
    expect(find('bsdutils')).toMatchObject({ licenseDeclared: 'NOASSERTION', licenseComments: 'Declared as: GPL-2+; BSD-4-clause; public-domain' });
    expect(find('github.com/Azure/go-autorest/autorest').licenseDeclared).toBe('NOASSERTION');
    expect(find('github.com/Azure/go-autorest/autorest').licenseComments).toBeUndefined();
  });

  it('keeps packages without a purl, without an external reference', () => {
    const unknown = writeSbom('spdx', input({ ...inventories.debian, os: null }));
    expect(unknown.packages.find((p) => p.name === 'bsdutils')!.externalRefs).toBeUndefined();
    expect(unknown.packages.some((p) => p.SPDXID === 'SPDXRef-OperatingSystem')).toBe(false);
  });

  it('is reproducible, with a namespace of its own for each scan and format', () => {
    expect(JSON.stringify(writeSbom('spdx', input(inventories.debian)))).toBe(JSON.stringify(document));
    const later = writeSbom('spdx', input(inventories.debian, { generatedAt: new Date('2024-05-01T12:00:01Z') }));
    expect(later.documentNamespace).not.toBe(document.documentNamespace);
    const serial = writeSbom('cyclonedx', input(inventories.debian)).serialNumber;
    expect(document.documentNamespace.endsWith(serial.slice('urn:uuid:'.length))).toBe(false);
  });
});

describe('SPDX license expressions', () => {
  it.each([
    [['MIT'], 'MIT'],
    [['apache-2.0'], 'Apache-2.0'],
    [['MIT OR Apache-2.0'], 'MIT OR Apache-2.0'],
    [['(MIT OR Apache-2.0) AND BSD-3-Clause'], '(MIT OR Apache-2.0) AND BSD-3-Clause'],
    [['GPL-2.0+'], 'GPL-2.0+'],
    [['gpl-2.0-only with linux-syscall-note'], undefined], // operators must be upper case
    [['GPL-2.0-only WITH Linux-syscall-note'], 'GPL-2.0-only WITH Linux-syscall-note'],
    [['MIT', 'BSD-3-Clause OR Apache-2.0'], 'MIT AND (BSD-3-Clause OR Apache-2.0)'],
    [['MIT', 'mit'], 'MIT'],
    [['MIT', 'GPLv2+'], undefined],
    [['BSD'], undefined],
    [['LicenseRef-Custom'], undefined],
    [['MIT AND'], undefined],
    [['(MIT'], undefined],
    [['MIT WITH MIT'], undefined],
    [['(MIT OR ISC) WITH LLVM-exception'], undefined],
    [['Classpath-exception-2.0'], undefined],
    [[], undefined],
  ])('%j → %s', (declared, expected) => {
    expect(spdxLicenseExpression(declared)).toBe(expected);
  });

  it('re-writes identifiers in canonical case and adds no parentheses of its own', () => {
    expect(normaliseLicenseExpression(' mit OR isc AND zlib ')).toBe('MIT OR ISC AND Zlib');
    expect(normaliseLicenseExpression('( MIT OR ISC)AND Zlib')).toBe('(MIT OR ISC) AND Zlib');
  });

  it('accepts only identifiers on the SPDX License List (checked against the list in the CycloneDX schema)', () => {
    const official = new Set((JSON.parse(fixture('spdx.schema.json')) as { enum: string[] }).enum);
    expect(KNOWN_SPDX_IDS.filter((id) => !official.has(id))).toEqual([]);
  });
});
