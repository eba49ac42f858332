/**
 * Reads tags from an rpm header blob, as rpmdb stores one per installed
 * package: `il` (index entry count) and `dl` (data length), both big-endian
 * uint32; `il` index entries of 16 bytes (tag, type, offset into the data
 * store, count); then the `dl`-byte data store. No magic: that belongs to
 * headers inside .rpm files, not to database blobs.
 */

export const RPMTAG = {
  NAME: 1000,
  VERSION: 1001,
  RELEASE: 1002,
  EPOCH: 1003,
  LICENSE: 1014,
  ARCH: 1022,
  SOURCERPM: 1044,
} as const;

const TYPE_INT32 = 4;
const TYPE_STRING = 6;
const TYPE_STRING_ARRAY = 8;
const TYPE_I18NSTRING = 9;

const INDEX_ENTRY_BYTES = 16;
/** rpm's own sanity limits (header.c hdrchkTags / hdrchkData). */
const MAX_INDEX_ENTRIES = 0xffff;
const MAX_DATA_BYTES = 256 * 1024 * 1024;

export type RpmTagValue = string | number;

/** The wanted tags' values: strings (the first, for arrays and translated strings) or the first int32. */
export function readRpmTags(blob: Buffer, tags: readonly number[]): Map<number, RpmTagValue> {
  if (blob.length < 8) throw new Error('rpm header blob is shorter than its 8-byte preamble');
  const entries = blob.readUInt32BE(0);
  const dataLength = blob.readUInt32BE(4);
  if (entries > MAX_INDEX_ENTRIES || dataLength > MAX_DATA_BYTES) throw new Error(`rpm header claims ${entries} tags and ${dataLength} data bytes`);
  const dataStart = 8 + entries * INDEX_ENTRY_BYTES;
  const dataEnd = dataStart + dataLength;
  if (dataEnd > blob.length) throw new Error(`rpm header needs ${dataEnd} bytes, blob has ${blob.length}`);

  const wanted = new Set(tags);
  const values = new Map<number, RpmTagValue>();
  for (let i = 0; i < entries; i++) {
    const at = 8 + i * INDEX_ENTRY_BYTES;
    const tag = blob.readInt32BE(at);
    if (!wanted.has(tag) || values.has(tag)) continue;
    const type = blob.readUInt32BE(at + 4);
    const offset = blob.readInt32BE(at + 8);
    const count = blob.readUInt32BE(at + 12);
    if (offset < 0 || dataStart + offset >= dataEnd || count === 0) throw new Error(`rpm tag ${tag} points outside the header`);
    const value = readValue(blob, type, dataStart + offset, dataEnd);
    if (value !== undefined) values.set(tag, value);
  }
  return values;
}

function readValue(blob: Buffer, type: number, start: number, end: number): RpmTagValue | undefined {
  switch (type) {
    case TYPE_INT32:
      if (start + 4 > end) throw new Error('rpm int32 tag runs past the header');
      return blob.readInt32BE(start);
    case TYPE_STRING:
    case TYPE_STRING_ARRAY:
    case TYPE_I18NSTRING: {
      const nul = blob.indexOf(0, start);
      if (nul < 0 || nul >= end) throw new Error('rpm string tag is not NUL-terminated inside the header');
      return blob.toString('utf8', start, nul);
    }
    default:
      return undefined;
  }
}
