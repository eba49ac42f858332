/** The mark phase, pure: which manifests and links nothing keeps. */
import { describe, expect, it } from 'vitest';
import { unkeptManifests, unreferencedLinks } from '../../src/core/gc-plan.js';
import type { ManifestGraph } from '../../src/core/gc.js';
import type { Digest } from '../../src/oci/digest.js';

const d = (n: string) => `sha256:${n.padEnd(64, '0')}` as Digest;
let nextId = 1;
const m = (name: string, extra: { subject?: string; createdAt?: number } = {}) => ({
  id: nextId++,
  digest: d(name),
  size: 100,
  subjectDigest: extra.subject ? d(extra.subject) : null,
  createdAt: extra.createdAt ?? 0,
});
const graph = (manifests: ReturnType<typeof m>[], tagged: string[], children: [string, string][] = []): ManifestGraph => {
  const id = (name: string) => manifests.find((x) => x.digest === d(name))!.id;
  return { manifests, taggedIds: tagged.map(id), children: children.map(([parent, child]) => ({ parentId: id(parent), digest: d(child) })) };
};
const names = (list: { digest: string }[]) => list.map((x) => x.digest.slice(7).replace(/0+$/, '')).sort();

describe('unkeptManifests', () => {
  it('keeps tagged manifests and what they reach: index children, referrers (transitively); returns the rest', () => {
    const g = graph(
      [m('a'), m('b'), m('idx'), m('c1'), m('c2'), m('sig', { subject: 'a' }), m('sigsig', { subject: 'sig' }), m('u'), m('usbom', { subject: 'u' }), m('lost', { subject: 'f' })],
      ['a', 'idx'],
      [['idx', 'c1'], ['idx', 'c2']],
    );
    expect(names(unkeptManifests(g, 10))).toEqual(['b', 'lost', 'u', 'usbom']);
  });

  it('an untagged index goes with those of its children nothing else keeps', () => {
    const g = graph([m('i'), m('c1'), m('c2'), m('j'), m('shared')], ['j', 'c2'], [['i', 'c1'], ['i', 'c2'], ['i', 'shared'], ['j', 'shared']]);
    expect(names(unkeptManifests(g, 10))).toEqual(['c1', 'i']);
  });

  it('keeps anything newer than the grace cutoff, and what it reaches', () => {
    const g = graph([m('old'), m('new', { createdAt: 20 }), m('child'), m('ref', { subject: 'new' })], [], [['new', 'child']]);
    expect(names(unkeptManifests(g, 10))).toEqual(['old']);
  });
});

describe('unreferencedLinks', () => {
  it('links no manifest references, not counting manifests about to go', () => {
    const links = ['x', 'y', 'z'].map((n) => ({ digest: d(n) }));
    const refs = [
      { manifestId: 1, digest: d('x') },
      { manifestId: 2, digest: d('y') },
    ];
    expect(names(unreferencedLinks(links, refs, new Set()).map((digest) => ({ digest })))).toEqual(['z']);
    expect(names(unreferencedLinks(links, refs, new Set([2])).map((digest) => ({ digest })))).toEqual(['y', 'z']);
  });
});
