import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import type { DetectedPackage, Detector, DetectorResult } from './detector.js';
import { RPMTAG, readRpmTags, type RpmTagValue } from './rpm-header.js';

/** rpm's database directories: the classic one, and where Fedora 36+ and friends moved it. */
const DB_DIRS = ['var/lib/rpm/', 'usr/lib/sysimage/rpm/'];
const SQLITE_DB = 'rpmdb.sqlite';
/** Older formats: RHEL/CentOS ≤ 8 (BerkeleyDB) and SUSE (NDB). */
const UNSUPPORTED: Record<string, string> = { Packages: 'a BerkeleyDB rpmdb', 'Packages.db': 'an NDB rpmdb' };
/** Copied to disk, not memory; large distro images stay well under this. */
const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;

const TAGS = Object.values(RPMTAG);

export interface RpmDetectorOptions {
  /** Where the database is copied to be read (default: the OS temporary directory). */
  tempDir?: string;
  /** Larger databases are refused (default 1 GiB). */
  maxBytes?: number;
}

/**
 * Red Hat family packages (RHEL, Rocky, AlmaLinux, Fedora, CentOS Stream …)
 * from rpm's SQLite database. SQLite needs a file, so the database is copied
 * to a private temporary directory, read there and deleted.
 */
export function createRpmDetector(options: RpmDetectorOptions = {}): Detector {
  const copy = { tempDir: options.tempDir ?? tmpdir(), maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES };
  return {
    name: 'rpm',
    wants: (file) => rpmdbFormat(file.path) !== undefined,
    async detect(file, content): Promise<DetectorResult> {
      const format = rpmdbFormat(file.path);
      if (format !== 'sqlite') {
        content.destroy();
        return { notes: [`${file.path} is ${format}, which Berth cannot read yet: its packages are not inventoried`] };
      }
      return { packages: await readSqliteRpmdb(content, file.path, copy) };
    },
  };
}

export const rpmDetector: Detector = createRpmDetector();

function rpmdbFormat(path: string): string | undefined {
  const dir = DB_DIRS.find((d) => path.startsWith(d));
  if (!dir) return undefined;
  const name = path.slice(dir.length);
  return name === SQLITE_DB ? 'sqlite' : UNSUPPORTED[name];
}

async function readSqliteRpmdb(content: Readable, location: string, copy: Required<RpmDetectorOptions>): Promise<DetectedPackage[]> {
  const dir = await mkdtemp(join(copy.tempDir, 'berth-rpmdb-'));
  try {
    // SQLite's -wal/-shm files for it are created in the same private directory.
    const path = join(dir, SQLITE_DB);
    await pipeline(content, capped(copy.maxBytes), createWriteStream(path, { mode: 0o600 }));
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      const packages: DetectedPackage[] = [];
      for (const row of db.prepare('SELECT blob FROM Packages ORDER BY hnum').iterate() as Iterable<{ blob: Buffer }>) {
        const pkg = packageFromHeader(readRpmTags(row.blob, TAGS), location);
        if (pkg) packages.push(pkg);
      }
      return packages;
    } finally {
      db.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function capped(maxBytes: number) {
  return async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    let total = 0;
    for await (const chunk of source) {
      total += chunk.length;
      if (total > maxBytes) throw new Error(`file is larger than the ${maxBytes} bytes this detector reads`);
      yield chunk;
    }
  };
}

/**
 * `gpg-pubkey` entries are imported signing keys, not packages (no arch, no
 * source rpm): skipped. The version carries the epoch only when the package
 * declares one, as `rpm -q --qf '%{EVR}'` prints it.
 */
export function packageFromHeader(tags: Map<number, RpmTagValue>, location: string): DetectedPackage | undefined {
  const name = stringTag(tags, RPMTAG.NAME);
  const version = stringTag(tags, RPMTAG.VERSION);
  if (!name || !version || name === 'gpg-pubkey') return undefined;
  const release = stringTag(tags, RPMTAG.RELEASE);
  const epoch = tags.get(RPMTAG.EPOCH);
  const evr = `${typeof epoch === 'number' ? `${epoch}:` : ''}${version}${release ? `-${release}` : ''}`;
  const arch = stringTag(tags, RPMTAG.ARCH);
  const license = stringTag(tags, RPMTAG.LICENSE);
  const sourceName = sourceRpmName(stringTag(tags, RPMTAG.SOURCERPM));
  return {
    versionScheme: 'rpm',
    name,
    version: evr,
    source: { name: sourceName ?? name, version: evr },
    location,
    ...(arch ? { arch } : {}),
    ...(license ? { licenses: [license] } : {}),
  };
}

/** `util-linux-2.37.4-15.el9.src.rpm` → `util-linux`: drop the suffix, then the version and release. */
export function sourceRpmName(sourceRpm: string | undefined): string | undefined {
  const nvr = sourceRpm?.replace(/\.(no)?src\.rpm$/, '');
  if (!nvr || nvr === sourceRpm) return undefined;
  const parts = nvr.split('-');
  return parts.length >= 3 ? parts.slice(0, -2).join('-') : undefined;
}

function stringTag(tags: Map<number, RpmTagValue>, tag: number): string | undefined {
  const value = tags.get(tag);
  return typeof value === 'string' && value !== '' ? value : undefined;
}
