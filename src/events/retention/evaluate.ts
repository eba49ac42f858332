/**
 * What a retention policy does to one repository, decided without I/O: from
 * the repository's manifests (tags, push and pull times, index children,
 * referrer subjects) and the rules, a plan that says of every manifest whether
 * it is expired (and by which rule) or kept (and why). The dry run shows this
 * plan; a real run deletes exactly its expired manifests, in its order.
 *
 * 1. Images. Referrers (a manifest whose `subject` is in the repository, or
 *    tagged only by the tag schema `sha256-<hex>[.sig|.att|…]` of one that is)
 *    belong to their subject. Untagged children of an index belong to the
 *    index. Every other manifest is an image: tagged ones (a tagged index
 *    child too), and untagged ones that nothing in the repository references.
 *    An image's pull time is the latest pull of it or of any manifest it
 *    contains (pulling a multi-platform tag fetches the index and a child).
 * 2. Expire rules, as ECR: in rulePriority order, each rule selects images by
 *    tag status and tag patterns and identifies, among all of its selection,
 *    those its count condition covers (beyond the newest N by push time;
 *    pushed, or last pulled, more than N days ago). An image is expired by the
 *    first rule that selects it, if that rule identifies it; a later rule never
 *    expires an image an earlier one selected, though it counts it.
 * 3. Keeps win over expire rules: an expired image stays when one of its tags
 *    is protected (immutable), when a keep rule selects it, or (untagged) when
 *    it was pushed within the grace period (its index or tag may be on its way).
 * 4. Whatever stays keeps what it needs: an index its children, a subject its
 *    referrers, a referrer its subject, transitively. The rest goes: expired
 *    images with the children only they held and the referrers of anything
 *    going. Deletion order: an index before its children, a subject before its
 *    referrers (no kept manifest ever names a deleted one, and referrers are
 *    never deleted while their subject stays).
 */
import { describeSelection, selects, type ExpireRule, type KeepRule } from './rules.js';

export const DAY_MS = 86_400_000;

/** One manifest of the repository, as evaluation needs it. */
export interface ManifestFacts {
  /** Its row id: among equal push times, the higher id was pushed later. */
  id: number;
  digest: string;
  mediaType: string;
  size: number;
  pushedAt: number;
  /** Last pull of this very manifest (epoch ms), or null if never pulled (since pull times are recorded). */
  pulledAt: number | null;
  tags: string[];
  /** The `subject` field's digest, if any. */
  subject: string | null;
  /** Digests of the manifests it lists (an index). */
  children: string[];
}

export interface EvaluationInput {
  repository: string;
  manifests: readonly ManifestFacts[];
  rules: readonly ExpireRule[];
  keep: readonly KeepRule[];
  now: number;
  /** Untagged images pushed after this are kept (default: none are). */
  graceCutoff?: number;
  /** Tags never to delete (immutable tags): their manifests, and what those need, stay. Default: none. */
  isProtected?: (repository: string, tag: string) => boolean;
}

export type ManifestRole = 'image' | 'child' | 'referrer';

export interface Decision {
  digest: string;
  id: number;
  role: ManifestRole;
  tags: string[];
  mediaType: string;
  size: number;
  pushedAt: number;
  /** For images: the latest pull of it or anything it contains; else its own. */
  pulledAt: number | null;
  action: 'expire' | 'keep';
  /** The expire rule that selected the image (expired or not); for a child or referrer going with an image, that image's rule. */
  rulePriority: number | null;
  /** The keep rule (1-based position in `keep`) that kept an expired image. */
  keepRule: number | null;
  reason: string;
  /** Expired manifests to delete before this one (its indexes and subject among them): should one stay, so must this. */
  after: string[];
}

export interface RepositoryPlan {
  repository: string;
  /** Every manifest, newest push first. */
  decisions: Decision[];
  /** The expired manifests' digests in the order to delete them. */
  deleteOrder: string[];
}

/** `sha256-<hex>` optionally followed by `.suffix`: the referrers tag schema (and cosign's tags). */
const TAG_SCHEMA = /^([a-z0-9]+)-([a-f0-9]{32,128})(?:\.[A-Za-z0-9_-]+)?$/;

const short = (digest: string) => digest.slice(0, 19);
const days = (ms: number) => `${Math.floor((ms / DAY_MS) * 10) / 10} days`;
/** Newest first by push time; the later insert first among equal times. */
const byPushDesc = (a: ManifestFacts, b: ManifestFacts) => b.pushedAt - a.pushedAt || b.id - a.id;

interface Node {
  facts: ManifestFacts;
  role: ManifestRole;
  /** Manifests of the repository it lists. */
  children: Node[];
  parents: Node[];
  subject: Node | null;
  referrers: Node[];
  pulledAt: number | null;
}

function buildGraph(manifests: readonly ManifestFacts[]): Node[] {
  const byDigest = new Map<string, Node>();
  const nodes = manifests.map((facts) => {
    const node: Node = { facts, role: 'image', children: [], parents: [], subject: null, referrers: [], pulledAt: facts.pulledAt };
    byDigest.set(facts.digest, node);
    return node;
  });
  for (const node of nodes) {
    for (const digest of new Set(node.facts.children)) {
      const child = byDigest.get(digest);
      if (!child || child === node) continue;
      node.children.push(child);
      child.parents.push(node);
    }
    const subject = subjectOf(node.facts, byDigest);
    if (subject && subject !== node) {
      node.subject = subject;
      subject.referrers.push(node);
    }
  }
  for (const node of nodes) {
    if (node.subject) node.role = 'referrer';
    else if (node.parents.length > 0 && node.facts.tags.length === 0) node.role = 'child';
  }
  // An image's pull time: its own, or that of anything it contains.
  const memo = new Map<Node, number | null>();
  const latestPull = (node: Node, depth = 0): number | null => {
    if (memo.has(node)) return memo.get(node)!;
    let latest = node.facts.pulledAt;
    if (depth < 8) for (const child of node.children) latest = later(latest, latestPull(child, depth + 1));
    memo.set(node, latest);
    return latest;
  };
  for (const node of nodes) if (node.role === 'image') node.pulledAt = latestPull(node);
  return nodes;
}

function later(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

function subjectOf(facts: ManifestFacts, byDigest: Map<string, Node>): Node | undefined {
  if (facts.subject) return byDigest.get(facts.subject);
  if (facts.tags.length === 0) return undefined;
  // Tagged by the tag schema only, all its tags naming the same manifest of the repository.
  const named = new Set<string>();
  for (const tag of facts.tags) {
    const m = TAG_SCHEMA.exec(tag);
    if (!m) return undefined;
    named.add(`${m[1]}:${m[2]}`);
  }
  return named.size === 1 ? byDigest.get([...named][0]!) : undefined;
}

interface Verdict {
  rulePriority: number | null;
  expired: boolean;
  reason: string;
}

/** Step 2: each image's verdict under the expire rules. */
function applyExpireRules(images: Node[], rules: readonly ExpireRule[], now: number): Map<Node, Verdict> {
  const verdicts = new Map<Node, Verdict>();
  for (const rule of [...rules].sort((a, b) => a.rulePriority - b.rulePriority)) {
    const s = rule.selection;
    const selected = images.filter((n) => selects(s, n.facts.tags)).sort((a, b) => byPushDesc(a.facts, b.facts));
    const what = `rule ${rule.rulePriority} (${describeSelection(s)})`;
    selected.forEach((node, rank) => {
      if (verdicts.has(node)) return; // an earlier rule selected it: its verdict stands
      let expired: boolean;
      let reason: string;
      if (s.countType === 'imageCountMoreThan') {
        expired = rank >= s.countNumber;
        reason = expired
          ? `${what}: number ${rank + 1} of ${selected.length} by push time, beyond the ${s.countNumber} newest`
          : `${what}: among the ${s.countNumber} newest of ${selected.length}`;
      } else if (s.countType === 'sinceImagePushed') {
        const age = now - node.facts.pushedAt;
        expired = age > s.countNumber * DAY_MS;
        reason = `${what}: pushed ${days(age)} ago, ${expired ? 'more than' : 'within'} ${s.countNumber} days`;
      } else {
        const pulled = node.pulledAt;
        const age = now - (pulled ?? node.facts.pushedAt);
        expired = age > s.countNumber * DAY_MS;
        const when = pulled === null ? `never pulled, pushed ${days(age)} ago` : `last pulled ${days(age)} ago`;
        reason = `${what}: ${when}, ${expired ? 'more than' : 'within'} ${s.countNumber} days`;
      }
      verdicts.set(node, { rulePriority: rule.rulePriority, expired, reason });
    });
  }
  return verdicts;
}

/** Step 3: for each image some keep rule keeps, the first such rule and why. */
function applyKeepRules(images: Node[], keep: readonly KeepRule[], now: number): Map<Node, { keepRule: number; reason: string }> {
  const kept = new Map<Node, { keepRule: number; reason: string }>();
  keep.forEach((rule, i) => {
    const n = i + 1;
    const selected = images.filter((node) => selects(rule, node.facts.tags));
    const what = `keep rule ${n} (${describeSelection(rule)})`;
    const add = (node: Node, reason: string) => {
      if (!kept.has(node)) kept.set(node, { keepRule: n, reason });
    };
    if (rule.mostRecentlyPulled !== undefined) {
      const pulled = selected.filter((node) => node.pulledAt !== null).sort((a, b) => b.pulledAt! - a.pulledAt! || byPushDesc(a.facts, b.facts));
      pulled.slice(0, rule.mostRecentlyPulled).forEach((node, rank) => add(node, `${what}: number ${rank + 1} of the ${rule.mostRecentlyPulled} most recently pulled`));
    } else if (rule.pulledWithinDays !== undefined) {
      for (const node of selected) {
        if (node.pulledAt !== null && now - node.pulledAt <= rule.pulledWithinDays * DAY_MS) add(node, `${what}: pulled ${days(now - node.pulledAt)} ago, within ${rule.pulledWithinDays} days`);
      }
    } else {
      for (const node of selected) add(node, `${what}`);
    }
  });
  return kept;
}

export function evaluate(input: EvaluationInput): RepositoryPlan {
  const { repository, now } = input;
  const nodes = buildGraph(input.manifests);
  const images = nodes.filter((n) => n.role === 'image');
  const verdicts = applyExpireRules(images, input.rules, now);
  const keeps = applyKeepRules(images, input.keep, now);
  const isProtected = input.isProtected ?? (() => false);
  const graceCutoff = input.graceCutoff ?? Number.POSITIVE_INFINITY;

  const decisions = new Map<Node, Decision>();
  const decide = (node: Node, action: Decision['action'], reason: string, extra: Partial<Pick<Decision, 'rulePriority' | 'keepRule'>> = {}) => {
    decisions.set(node, {
      digest: node.facts.digest,
      id: node.facts.id,
      role: node.role,
      tags: [...node.facts.tags].sort(),
      mediaType: node.facts.mediaType,
      size: node.facts.size,
      pushedAt: node.facts.pushedAt,
      pulledAt: node.pulledAt,
      action,
      rulePriority: extra.rulePriority ?? decisions.get(node)?.rulePriority ?? null,
      keepRule: extra.keepRule ?? null,
      reason,
      after: [],
    });
  };

  // What stays for reasons of its own; the rest of the images are expired, for now.
  const kept: Node[] = [];
  const keepFor = (node: Node, reason: string, extra: Partial<Pick<Decision, 'rulePriority' | 'keepRule'>> = {}) => {
    decide(node, 'keep', reason, extra);
    kept.push(node);
  };
  for (const node of nodes) {
    const protectedTag = node.facts.tags.find((t) => isProtected(repository, t));
    const verdict = node.role === 'image' ? verdicts.get(node) : undefined;
    const rulePriority = verdict?.rulePriority ?? null;
    if (protectedTag !== undefined) {
      keepFor(node, `tag ${protectedTag} is protected (immutable)`, { rulePriority });
    } else if (node.role !== 'image') {
      continue; // decided by what it belongs to
    } else if (!verdict) {
      keepFor(node, 'no rule selects it');
    } else if (!verdict.expired) {
      keepFor(node, verdict.reason, { rulePriority });
    } else if (keeps.has(node)) {
      const k = keeps.get(node)!;
      keepFor(node, `${k.reason} (${verdict.reason})`, { rulePriority, keepRule: k.keepRule });
    } else if (node.facts.tags.length === 0 && node.facts.pushedAt > graceCutoff) {
      keepFor(node, `untagged and pushed within the grace period, so an index or tag naming it may still be on its way (${verdict.reason})`, { rulePriority });
    } else {
      decide(node, 'expire', verdict.reason, { rulePriority });
    }
  }

  // Step 4: what stays keeps what it needs.
  const keptSet = new Set(kept);
  const hold = (node: Node, reason: string) => {
    if (keptSet.has(node)) return;
    keptSet.add(node);
    decide(node, 'keep', decisions.get(node)?.action === 'expire' ? `${reason} (${decisions.get(node)!.reason})` : reason);
    kept.push(node);
  };
  for (let i = 0; i < kept.length; i++) {
    const node = kept[i]!;
    for (const child of node.children) hold(child, `child of kept index ${short(node.facts.digest)}`);
    for (const referrer of node.referrers) hold(referrer, `referrer of kept ${short(node.facts.digest)}`);
    if (node.subject) hold(node.subject, `subject of kept referrer ${short(node.facts.digest)}`);
  }

  // The rest goes: images expired above, and what belonged only to what goes.
  const going = nodes.filter((n) => !keptSet.has(n));
  const goingSet = new Set(going);
  const order = deletionOrder(going, goingSet);
  for (const node of order) {
    if (node.role === 'image' && decisions.get(node)?.action === 'expire') continue;
    const owner = node.subject && goingSet.has(node.subject) ? node.subject : node.parents.find((p) => goingSet.has(p));
    const why = node.subject && owner === node.subject ? `referrer of expired ${short(owner.facts.digest)}` : `child of expired index ${short(owner?.facts.digest ?? '?')}`;
    // Owners come earlier in the order, so theirs is decided.
    decide(node, 'expire', why, { rulePriority: owner ? (decisions.get(owner)?.rulePriority ?? null) : null });
  }

  for (const node of going) decisions.get(node)!.after = owningNodes(node, goingSet).map((o) => o.facts.digest);
  const all = [...decisions.values()].sort((a, b) => b.pushedAt - a.pushedAt || b.id - a.id);
  return { repository, decisions: all, deleteOrder: order.map((n) => n.facts.digest) };
}

/** The manifests going too that a going manifest belongs to: its indexes and its subject. */
function owningNodes(node: Node, goingSet: Set<Node>): Node[] {
  return [...node.parents, ...(node.subject ? [node.subject] : [])].filter((o) => goingSet.has(o));
}

/** Owners first: an index before its children, a subject before its referrers; otherwise newest first. */
function deletionOrder(going: Node[], goingSet: Set<Node>): Node[] {
  const pending = new Map(going.map((n) => [n, owningNodes(n, goingSet).length]));
  const ready = going.filter((n) => pending.get(n) === 0).sort((a, b) => byPushDesc(a.facts, b.facts));
  const order: Node[] = [];
  while (ready.length > 0) {
    const node = ready.shift()!;
    order.push(node);
    for (const dependent of [...node.children, ...node.referrers]) {
      if (!pending.has(dependent)) continue;
      const left = pending.get(dependent)! - 1;
      pending.set(dependent, left);
      if (left === 0) ready.push(dependent);
    }
  }
  // Only tags can make a cycle (two manifests tagged as each other's referrers): they go last, together.
  if (order.length < going.length) order.push(...going.filter((n) => !order.includes(n)).sort((a, b) => byPushDesc(a.facts, b.facts)));
  return order;
}

export interface PlanSummary {
  imagesExpired: number;
  manifestsExpired: number;
  /** Images each rule expires, by rulePriority. */
  byRule: { rulePriority: number; imagesExpired: number }[];
}

export function summarize(plans: readonly RepositoryPlan[]): PlanSummary {
  let images = 0;
  let manifests = 0;
  const byRule = new Map<number, number>();
  for (const plan of plans) {
    for (const d of plan.decisions) {
      if (d.action !== 'expire') continue;
      manifests++;
      if (d.role !== 'image') continue;
      images++;
      if (d.rulePriority !== null) byRule.set(d.rulePriority, (byRule.get(d.rulePriority) ?? 0) + 1);
    }
  }
  return { imagesExpired: images, manifestsExpired: manifests, byRule: [...byRule].sort((a, b) => a[0] - b[0]).map(([rulePriority, n]) => ({ rulePriority, imagesExpired: n })) };
}
