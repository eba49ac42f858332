/**
 * SPDX 2.3 JSON documents, and the SPDX license-expression check both SBOM
 * formats use.
 *
 * The document describes the image as one package that CONTAINS the
 * operating system and every inventoried package. Packages carry their purl
 * as a PACKAGE-MANAGER external reference (the spelling of the spec text; the
 * schema takes PACKAGE_MANAGER too), where they were found as annotations,
 * and their source package as `sourceInfo`.
 */
import type { PreparedSbom, SbomPackage } from './index.js';

export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: 'SPDXRef-DOCUMENT';
  name: string;
  documentNamespace: string;
  comment?: string;
  creationInfo: { created: string; creators: string[] };
  packages: SpdxPackage[];
  relationships: SpdxRelationship[];
  /** Deprecated in 2.3 in favour of the DESCRIBES relationship (also written), but still read by older tools. */
  documentDescribes: string[];
}

export interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  downloadLocation: 'NOASSERTION';
  filesAnalyzed: false;
  primaryPackagePurpose?: 'CONTAINER';
  licenseConcluded: string;
  licenseDeclared: string;
  licenseComments?: string;
  sourceInfo?: string;
  description?: string;
  externalRefs?: Array<{ referenceCategory: 'PACKAGE-MANAGER'; referenceType: 'purl'; referenceLocator: string }>;
  annotations?: Array<{ annotationDate: string; annotationType: 'OTHER'; annotator: string; comment: string }>;
}

export interface SpdxRelationship {
  spdxElementId: string;
  relationshipType: 'DESCRIBES' | 'CONTAINS';
  relatedSpdxElement: string;
}

const NOASSERTION = 'NOASSERTION';
const IMAGE_ID = 'SPDXRef-Image';
const OS_ID = 'SPDXRef-OperatingSystem';

export function spdxDocument(sbom: PreparedSbom): SpdxDocument {
  const { image } = sbom;
  const tool = `Tool: berth-${sbom.toolVersion}`;
  const packages: SpdxPackage[] = [
    {
      SPDXID: IMAGE_ID,
      name: `${image.registry}/${image.repository}`,
      versionInfo: image.digest,
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      primaryPackagePurpose: 'CONTAINER',
      licenseConcluded: NOASSERTION,
      licenseDeclared: NOASSERTION,
      externalRefs: [purlRef(sbom.imagePurl)],
    },
  ];
  if (sbom.os) {
    // No primaryPackagePurpose: the 2.3 text says OPERATING-SYSTEM, the 2.3 schema OPERATING_SYSTEM, and validators disagree.
    packages.push({
      SPDXID: OS_ID,
      name: sbom.os.id,
      ...(sbom.os.versionId ? { versionInfo: sbom.os.versionId } : {}),
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      licenseConcluded: NOASSERTION,
      licenseDeclared: NOASSERTION,
      description: sbom.os.prettyName || sbom.os.id,
    });
  }
  packages.push(...sbom.packages.map((entry) => spdxPackage(entry, sbom.timestamp, tool)));

  const relationships: SpdxRelationship[] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: IMAGE_ID },
    ...packages
      .filter((p) => p.SPDXID !== IMAGE_ID)
      .map((p): SpdxRelationship => ({ spdxElementId: IMAGE_ID, relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID })),
  ];
  const repositoryPath = image.repository.split('/').map(encodeURIComponent).join('/');
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${image.registry}/${image.repository}@${image.digest}`,
    documentNamespace: `https://${image.registry}/spdx/${repositoryPath}/${sbom.uuid}`,
    ...(sbom.notes.length > 0 ? { comment: `Inventory notes: ${sbom.notes.join('; ')}` } : {}),
    creationInfo: { created: sbom.timestamp, creators: [tool] },
    packages,
    relationships,
    documentDescribes: [IMAGE_ID],
  };
}

function spdxPackage({ pkg, purl, key }: SbomPackage, date: string, annotator: string): SpdxPackage {
  const declared = spdxLicenseExpression(pkg.licenses);
  const note = (comment: string) => ({ annotationDate: date, annotationType: 'OTHER' as const, annotator, comment });
  return {
    SPDXID: `SPDXRef-Package-${pkg.name.replace(/[^A-Za-z0-9.-]+/g, '-')}-${key}`,
    name: pkg.name,
    versionInfo: pkg.version,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    // Concluded means the document's author analysed the licensing; Berth only reports what the package declares.
    licenseConcluded: NOASSERTION,
    licenseDeclared: declared ?? NOASSERTION,
    ...(declared === undefined && pkg.licenses?.length ? { licenseComments: `Declared as: ${pkg.licenses.join('; ')}` } : {}),
    ...(pkg.source ? { sourceInfo: `built from source package ${`${pkg.source.name} ${pkg.source.version}`.trim()}` } : {}),
    ...(purl ? { externalRefs: [purlRef(purl)] } : {}),
    annotations: [
      ...(pkg.ecosystem ? [note(`berth:ecosystem=${pkg.ecosystem}`)] : []),
      note(`berth:location=${pkg.location}`),
      note(`berth:layer_digest=${pkg.layerDigest}`),
    ],
  };
}

function purlRef(purl: string) {
  return { referenceCategory: 'PACKAGE-MANAGER' as const, referenceType: 'purl' as const, referenceLocator: purl };
}

// --- SPDX license expressions ------------------------------------------------

/**
 * The declared licenses as one SPDX license expression in canonical case
 * (`mit` → `MIT`), or undefined when any of them is not one. Several declared
 * licenses all apply, so they are joined with AND. Only identifiers from the
 * lists below count: `GPLv2+`, `BSD` or Debian's `GPL-2+` are well-formed but
 * not SPDX licenses, and `LicenseRef-` would have to be defined in the
 * document. Unknown means "not an expression", never a wrong one.
 */
export function spdxLicenseExpression(declared: readonly string[] | undefined): string | undefined {
  if (!declared || declared.length === 0) return undefined;
  const parts: string[] = [];
  for (const text of declared) {
    const expression = normaliseLicenseExpression(text);
    if (expression === undefined) return undefined;
    if (!parts.includes(expression)) parts.push(expression);
  }
  if (parts.length === 1) return parts[0];
  return parts.map((p) => (p.includes(' ') ? `(${p})` : p)).join(' AND ');
}

/** The canonical SPDX identifier when `text` is exactly one listed license (no `+`, no operators). */
export function spdxLicenseId(text: string): string | undefined {
  return LICENSE_IDS.get(text.trim().toLowerCase());
}

/** Parses `text` as an SPDX 2.3 license expression (Annex D); returns it re-written in canonical case, or undefined. */
export function normaliseLicenseExpression(text: string): string | undefined {
  const tokens = text.match(/\(|\)|[^\s()]+/g) ?? [];
  let at = 0;
  const peek = () => tokens[at];
  // compound := and ("OR" and)* ; and := with ("AND" with)* ; with := simple ("WITH" exception)? ; simple := id "+"? | "(" compound ")"
  const compound = (): string | undefined => binary('OR', andExpression);
  const andExpression = (): string | undefined => binary('AND', withExpression);
  function binary(operator: string, operand: () => string | undefined): string | undefined {
    let left = operand();
    while (left !== undefined && peek() === operator) {
      at++;
      const right = operand();
      left = right === undefined ? undefined : `${left} ${operator} ${right}`;
    }
    return left;
  }
  function withExpression(): string | undefined {
    const license = simple();
    if (license === undefined || peek() !== 'WITH') return license;
    at++;
    const exception = EXCEPTION_IDS.get(tokens[at++]?.toLowerCase() ?? '');
    return exception === undefined || license.startsWith('(') ? undefined : `${license} WITH ${exception}`;
  }
  function simple(): string | undefined {
    const token = tokens[at++];
    if (token === '(') {
      const inner = compound();
      return tokens[at++] === ')' && inner !== undefined ? `(${inner})` : undefined;
    }
    const match = token === undefined ? null : /^([A-Za-z0-9.-]+)(\+?)$/.exec(token);
    const id = match ? LICENSE_IDS.get(match[1]!.toLowerCase()) : undefined;
    return id === undefined ? undefined : `${id}${match![2]}`;
  }
  const expression = compound();
  return at === tokens.length ? expression : undefined;
}

function caseInsensitive(ids: string): Map<string, string> {
  return new Map(ids.split(/\s+/).filter(Boolean).map((id) => [id.toLowerCase(), id]));
}

/**
 * The licenses container images mostly declare, from the SPDX License List
 * (deprecated `GPL-2.0`-style ids included: old metadata uses them). A test
 * checks each against the list in the CycloneDX schema fixture.
 */
const LICENSE_IDS = caseInsensitive(`
  0BSD AFL-2.1 AFL-3.0 AGPL-1.0 AGPL-3.0 AGPL-3.0-only AGPL-3.0-or-later Apache-1.0 Apache-1.1 Apache-2.0 APSL-2.0
  Artistic-1.0 Artistic-1.0-Perl Artistic-2.0 Beerware BlueOak-1.0.0 blessing BSD-1-Clause BSD-2-Clause
  BSD-2-Clause-Patent BSD-3-Clause BSD-3-Clause-Clear BSD-4-Clause BSD-4-Clause-UC BSD-Source-Code BSL-1.0
  BUSL-1.1 bzip2-1.0.6 CC-BY-3.0 CC-BY-4.0 CC-BY-SA-3.0 CC-BY-SA-4.0 CC0-1.0 CDDL-1.0 CDDL-1.1 CECILL-2.1 curl
  ECL-2.0 Elastic-2.0 EPL-1.0 EPL-2.0 EUPL-1.1 EUPL-1.2 FSFAP FSFUL FSFULLR FTL GFDL-1.1 GFDL-1.1-only
  GFDL-1.1-or-later GFDL-1.2 GFDL-1.2-only GFDL-1.2-or-later GFDL-1.3 GFDL-1.3-only GFDL-1.3-or-later GPL-1.0
  GPL-1.0-only GPL-1.0-or-later GPL-2.0 GPL-2.0-only GPL-2.0-or-later GPL-3.0 GPL-3.0-only GPL-3.0-or-later HPND
  ICU IJG Info-ZIP ISC JSON LGPL-2.0 LGPL-2.0-only LGPL-2.0-or-later LGPL-2.1 LGPL-2.1-only LGPL-2.1-or-later
  LGPL-3.0 LGPL-3.0-only LGPL-3.0-or-later Libpng libpng-2.0 libtiff LPPL-1.3c MirOS MIT MIT-0 MIT-CMU MPL-1.1
  MPL-2.0 MPL-2.0-no-copyleft-exception MS-PL NCSA Net-SNMP NTP OFL-1.1 OLDAP-2.8 OpenSSL OSL-3.0 PHP-3.0 PHP-3.01
  PostgreSQL PSF-2.0 Python-2.0 Python-2.0.1 Ruby SGI-B-2.0 Sleepycat SMLNJ Spencer-94 SSPL-1.0 TCL Unicode-3.0
  Unicode-DFS-2015 Unicode-DFS-2016 Unlicense UPL-1.0 Vim W3C WTFPL X11 XFree86-1.1 Zlib zlib-acknowledgement ZPL-2.1
`);

/** License exceptions (the right-hand side of WITH). */
const EXCEPTION_IDS = caseInsensitive(`
  389-exception Autoconf-exception-2.0 Autoconf-exception-3.0 Bison-exception-2.2 Bootloader-exception
  Classpath-exception-2.0 eCos-exception-2.0 FLTK-exception Font-exception-2.0 freertos-exception-2.0
  GCC-exception-2.0 GCC-exception-3.1 GPL-3.0-linking-exception GPL-3.0-linking-source-exception GPL-CC-1.0
  LGPL-3.0-linking-exception Libtool-exception Linux-syscall-note LLVM-exception OCaml-LGPL-linking-exception
  OpenJDK-assembly-exception-1.0 openvpn-openssl-exception Qt-GPL-exception-1.0 Qt-LGPL-exception-1.1
  Swift-exception u-boot-exception-2.0 Universal-FOSS-exception-1.0 WxWindows-exception-3.1
`);

/** For the fixture test: every identifier this module accepts. */
export const KNOWN_SPDX_IDS: readonly string[] = [...LICENSE_IDS.values(), ...EXCEPTION_IDS.values()];
