/**
 * SBOMs of an image's inventory: CycloneDX 1.5 JSON and SPDX 2.3 JSON.
 *
 * The output is a function of the input alone: packages are put in a fixed
 * order, each gets an id derived from what it is and where it was found, and
 * the document's UUID (CycloneDX `serialNumber`, SPDX `documentNamespace`) is
 * a name-based UUID of the format, image digest and generation time. The same
 * scan written twice gives byte-identical documents; a new scan (a new time)
 * gives a new serial number, as both specs ask.
 */
import { createHash } from 'node:crypto';
import type { DetectedOs, InstalledPackage, Inventory } from '../inventory.js';
import { cycloneDxBom, type CycloneDxBom } from './cyclonedx.js';
import { imagePurl, packagePurl, type OciImageRef } from './purl.js';
import { spdxDocument, type SpdxDocument } from './spdx.js';

export type SbomFormat = 'cyclonedx' | 'spdx';
export type { CycloneDxBom, OciImageRef, SpdxDocument };

export interface SbomInput {
  inventory: Inventory;
  image: OciImageRef;
  /** When the inventory was taken; the documents' creation time. */
  generatedAt: Date;
  /** Berth's version, named as the tool that wrote the document. */
  toolVersion: string;
}

/** A package as the format writers see it. */
export interface SbomPackage {
  pkg: InstalledPackage;
  purl?: string;
  /** Unique in the document, stable across writes: 16 hex digits of a hash of the package and where it was found. */
  key: string;
}

/** What both format writers work from. */
export interface PreparedSbom {
  image: OciImageRef;
  imagePurl: string;
  os: DetectedOs | null;
  packages: SbomPackage[];
  notes: string[];
  /** RFC 4122 name-based UUID of this document. */
  uuid: string;
  /** ISO 8601 UTC to the second (`2024-05-01T12:00:00Z`): SPDX 2.3's schema allows no fractions. */
  timestamp: string;
  toolVersion: string;
}

export function writeSbom(format: 'cyclonedx', input: SbomInput): CycloneDxBom;
export function writeSbom(format: 'spdx', input: SbomInput): SpdxDocument;
export function writeSbom(format: SbomFormat, input: SbomInput): CycloneDxBom | SpdxDocument;
export function writeSbom(format: SbomFormat, input: SbomInput): CycloneDxBom | SpdxDocument {
  const prepared = prepareSbom(format, input);
  return format === 'cyclonedx' ? cycloneDxBom(prepared) : spdxDocument(prepared);
}

function prepareSbom(format: SbomFormat, input: SbomInput): PreparedSbom {
  const timestamp = input.generatedAt.toISOString().replace(/\.\d+Z$/, 'Z');
  const { os } = input.inventory;
  return {
    image: input.image,
    imagePurl: imagePurl(input.image),
    os,
    packages: withKeys(input.inventory.packages.map((pkg) => ({ pkg, purl: packagePurl(pkg, os) }))),
    notes: input.inventory.notes,
    uuid: nameBasedUuid(`berth-sbom\n${format}\n${input.image.digest}\n${timestamp}`),
    timestamp,
    toolVersion: input.toolVersion,
  };
}

/** Orders packages by name, version and location, so documents do not depend on the order layers were walked in. */
function withKeys(packages: Array<Omit<SbomPackage, 'key'>>): SbomPackage[] {
  const sorted = packages
    .map((entry) => ({ ...entry, sortKey: [entry.pkg.name, entry.pkg.version, entry.pkg.location, entry.pkg.ecosystem].join('\0') }))
    .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  const used = new Set<string>();
  return sorted.map(({ pkg, purl }) => {
    const base = createHash('sha256')
      .update([pkg.ecosystem, pkg.name, pkg.version, pkg.location, pkg.layerDigest].join('\0'))
      .digest('hex')
      .slice(0, 16);
    // The same package listed twice at the same place: keep both, distinctly.
    let key = base;
    for (let n = 2; used.has(key); n++) key = `${base}-${n}`;
    used.add(key);
    return { pkg, purl, key };
  });
}

/** RFC 4122 version 5 (SHA-1, name-based) UUIDs in Berth's own namespace (67d0abe9-474b-42cf-9ac5-e30ed44e9f49; never change it). */
const BERTH_UUID_NAMESPACE = Buffer.from('67d0abe9474b42cf9ac5e30ed44e9f49', 'hex');

function nameBasedUuid(name: string): string {
  const bytes = createHash('sha1').update(BERTH_UUID_NAMESPACE).update(name).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
