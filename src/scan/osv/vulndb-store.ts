import type { PackageKey } from './ecosystem.js';
import type { OsvRecord } from './record.js';

/**
 * The vulnerability database as the importer writes it and the scanner reads
 * it: whole OSV records, an index of the packages each one affects, the
 * sources imported, and a generation that grows whenever records change.
 */
export interface VulnDbStore {
  /**
   * Writes a batch of records in one transaction: each record whole (with all
   * its index rows) or not at all. New records are inserted; a stored one is
   * replaced when its content differs, unless the incoming record is older
   * (its `modified` earlier: a stale copy, left out and reported). The
   * generation grows by one when the batch changed anything.
   */
  putRecords(records: readonly PreparedRecord[], source: string): Promise<PutRecordsResult>;
  /** Records (or replaces) what an import of a source found. */
  recordSource(source: VulnSource): Promise<void>;
  /**
   * The records that name a package (ecosystem and name as OSV or the
   * inventory writes them; both are normalised here), withdrawn ones left out.
   * `anyRelease`: in every release of the ecosystem (`Debian` finds `Debian:11` and `Debian:12`).
   */
  recordsForPackage(ecosystem: string, name: string, options?: { anyRelease?: boolean }): Promise<OsvRecord[]>;
  /** The records that name any of the packages (keys as `lookupKey` gives them), each once, withdrawn ones left out. */
  recordsForPackages(keys: readonly PackageKey[]): Promise<OsvRecord[]>;
  /** One record by id, withdrawn or not. */
  record(id: string): Promise<OsvRecord | undefined>;
  /** Grows whenever an import changes records: inventories matched at an older generation are worth matching again. */
  generation(): Promise<number>;
  status(): Promise<VulnDbStatus>;
}

/** A valid record as the store keeps it: prepared by the importer (`prepareRecord`). */
export interface PreparedRecord {
  id: string;
  modified: string;
  withdrawn: string | null;
  /** The record's JSON, compact, every field kept. */
  body: string;
  /** sha256 of `body`: equal bodies are an unchanged record even when `modified` is not maintained (the Go database's is the zero time). */
  hash: string;
  /** Every package the record names, once each. */
  packages: IndexedPackage[];
}

export interface IndexedPackage {
  /** The ecosystem without its suffix (`Debian`), for lookups in every release. */
  ecosystemBase: string;
  /** `ecosystemKey` (`Debian:12`), for matching. */
  ecosystem: string;
  /** `normalizePackageName`. */
  name: string;
}

export interface PutRecordsResult {
  /** New records. */
  imported: number;
  /** Stored records replaced by a different version. */
  updated: number;
  /** Stored already, identical. */
  unchanged: number;
  /** Ids of records left out because the stored copy is newer. */
  stale: string[];
  /** The generation after the batch. */
  generation: number;
}

export interface VulnSource {
  /** The file name (`Go.zip`) or configured URL. */
  name: string;
  /** When its last import finished (epoch ms). */
  importedAt: number;
  /** Valid records it held at that import. */
  records: number;
  /** The latest `modified` among them: how current the source itself was. */
  latestModified: string | null;
}

export interface VulnDbStatus {
  generation: number;
  /** When the generation last grew (epoch ms); null before the first import. */
  changedAt: number | null;
  records: number;
  withdrawn: number;
  /** Records per ecosystem (without release suffix), most first. */
  ecosystems: { ecosystem: string; records: number }[];
  /** By name. */
  sources: VulnSource[];
}
