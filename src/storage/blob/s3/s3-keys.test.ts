import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestBytes } from '../../../oci/digest.js';
import { copySource, S3Keys } from './s3-keys.js';

describe('S3Keys', () => {
  const digest = digestBytes(Buffer.from('x'));
  const hex = digest.slice('sha256:'.length);

  it('normalises the prefix to a folder', () => {
    expect(new S3Keys().prefix).toBe('');
    expect(new S3Keys('berth').prefix).toBe('berth/');
    expect(new S3Keys('/berth/').prefix).toBe('berth/');
    expect(new S3Keys('a/b/').blob(digest)).toBe(`a/b/blobs/sha256/${hex.slice(0, 2)}/${hex}`);
  });

  it('reads back only well-formed blob keys', () => {
    const keys = new S3Keys('p');
    expect(keys.parseBlob(keys.blob(digest))).toBe(digest);
    expect(keys.parseBlob(`p/blobs/sha256/zz/${hex}`)).toBeUndefined(); // wrong fan-out folder
    expect(keys.parseBlob(`p/blobs/sha256/${hex.slice(0, 2)}/${hex.toUpperCase()}`)).toBeUndefined();
    expect(keys.parseBlob(`p/blobs/md5/${hex.slice(0, 2)}/${hex}`)).toBeUndefined();
    expect(keys.parseBlob(`p/blobs/sha256/${hex.slice(0, 2)}/${hex}/extra`)).toBeUndefined();
    expect(keys.parseBlob(`q/blobs/sha256/${hex.slice(0, 2)}/${hex}`)).toBeUndefined();
  });

  it('refuses anything but an upload id, and orders chunks by offset', () => {
    const keys = new S3Keys();
    expect(() => keys.upload('../../blobs')).toThrow('invalid upload id');
    const id = randomUUID();
    const offsets = [0, 9, 10, 1_000_000, 5 * 1024 ** 4];
    const sorted = offsets.map((o) => keys.chunk(id, o)).sort();
    expect(sorted.map((k) => keys.parseStaging(k)?.entry)).toEqual(offsets.map((offset) => ({ kind: 'chunk', offset })));
    expect(keys.parseStaging(keys.marker(id))).toEqual({ uploadId: id, entry: { kind: 'marker' } });
    expect(keys.parseStaging(`uploads/${id}/other`)).toEqual({ uploadId: id, entry: undefined });
    expect(keys.parseStaging('uploads/not-an-id/session')).toBeUndefined();
    expect(() => keys.chunk(id, -1)).toThrow();
  });

  it('encodes copy sources per segment', () => {
    expect(copySource('b', 'a b/c+d')).toBe('b/a%20b/c%2Bd');
  });
});
