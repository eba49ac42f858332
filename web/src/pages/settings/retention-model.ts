/** Retention policies as the API takes them, and as the editor drafts them. */
import { plural } from '../../format';
import { listOf } from './shared';

// ---------- the policy document, as the API takes it (docs/retention.md) ----------

export type TagStatus = 'tagged' | 'untagged' | 'any';
export type CountType = 'imageCountMoreThan' | 'sinceImagePushed' | 'sinceImagePulled';

export interface Selection {
  tagStatus: TagStatus;
  tagPatternList?: string[];
  tagPrefixList?: string[];
  countType: CountType;
  countUnit?: 'days';
  countNumber: number;
}

export interface ExpireRule {
  rulePriority: number;
  description?: string;
  selection: Selection;
  action: { type: 'expire' };
}

export interface KeepRule {
  description?: string;
  tagStatus?: TagStatus;
  tagPatternList?: string[];
  tagPrefixList?: string[];
  mostRecentlyPulled?: number;
  pulledWithinDays?: number;
}

export interface PolicyDocument {
  id?: string;
  description?: string;
  scope: 'registry' | { repositories: string[] };
  schedule: string;
  enabled: boolean;
  rules: ExpireRule[];
  keep: KeepRule[];
}

export interface Policy extends PolicyDocument {
  id: string;
  revision: number;
  created_at: string;
  updated_at: string;
  next_run_at: string | null;
}

export interface Decision {
  digest: string;
  tags: string[];
  role: 'image' | 'child' | 'referrer';
  size: number;
  pushed_at: string | null;
  last_pulled_at: string | null;
  rule_priority: number | null;
  reason: string;
}

export interface Plan {
  evaluated_at: string;
  summary: { repositories: number; images_expired: number; manifests_expired: number; bytes_freed: number; by_rule: { rule_priority: number; images_expired: number }[] };
  repositories: { repository: string; images_expired: number; manifests_expired: number; expire: Decision[] }[];
}

export interface Run {
  id: string;
  trigger: 'schedule' | 'manual';
  status: string;
  requested_by: string | null;
  created_at: string;
  finished_at: string | null;
  images_deleted: number;
  manifests_deleted: number;
  bytes_freed: number;
  error: string | null;
}

// ---------- what the editor holds: text as typed, turned into the document on demand ----------

export type TagMode = 'all' | 'patterns' | 'prefixes';

export interface RuleDraft {
  key: number;
  rulePriority: string;
  description: string;
  tagStatus: TagStatus;
  tagMode: TagMode;
  tags: string;
  countType: CountType;
  countNumber: string;
}

/** What expire and keep rules say about tags. */
export type TagDraft = Pick<RuleDraft, 'tagStatus' | 'tagMode' | 'tags'>;

export interface KeepDraft {
  key: number;
  description: string;
  tagStatus: TagStatus;
  tagMode: TagMode;
  tags: string;
  kind: 'all' | 'mostRecentlyPulled' | 'pulledWithinDays';
  count: string;
}

export interface Draft {
  id: string;
  description: string;
  scopeKind: 'registry' | 'repositories';
  repositories: string;
  schedule: string;
  enabled: boolean;
  rules: RuleDraft[];
  keep: KeepDraft[];
}

export const COUNT_TYPES: { value: CountType; label: string; number: string }[] = [
  { value: 'imageCountMoreThan', label: 'More than a number of images', number: 'Images to keep (newest by push)' },
  { value: 'sinceImagePushed', label: 'Pushed more than some days ago', number: 'Days since push' },
  { value: 'sinceImagePulled', label: 'Not pulled for some days', number: 'Days since last pull' },
];

export const TAG_STATUSES: { value: TagStatus; label: string }[] = [
  { value: 'tagged', label: 'Tagged images' },
  { value: 'untagged', label: 'Untagged images' },
  { value: 'any', label: 'Any image' },
];

let nextKey = 1;
export const newRule = (priority: number): RuleDraft => ({ key: nextKey++, rulePriority: String(priority), description: '', tagStatus: 'untagged', tagMode: 'all', tags: '', countType: 'sinceImagePushed', countNumber: '14' });
export const newKeep = (): KeepDraft => ({ key: nextKey++, description: '', tagStatus: 'tagged', tagMode: 'patterns', tags: 'v*', kind: 'all', count: '10' });
export const emptyDraft = (): Draft => ({ id: '', description: '', scopeKind: 'registry', repositories: '', schedule: '0 0 * * *', enabled: true, rules: [newRule(1)], keep: [] });

/** A number as typed; what is not one goes to the API as it is (null), which says so beside the field. */
export const numberOf = (text: string) => (text.trim() === '' ? Number.NaN : Number(text));

export function tagLists(status: TagStatus, mode: TagMode, tags: string): Pick<Selection, 'tagPatternList' | 'tagPrefixList'> {
  if (status !== 'tagged' || mode === 'all') return {};
  const list = listOf(tags);
  return mode === 'patterns' ? { tagPatternList: list } : { tagPrefixList: list };
}

export function toDocument(d: Draft): PolicyDocument {
  return {
    ...(d.id.trim() ? { id: d.id.trim() } : {}),
    ...(d.description.trim() ? { description: d.description.trim() } : {}),
    scope: d.scopeKind === 'registry' ? 'registry' : { repositories: listOf(d.repositories) },
    schedule: d.schedule.trim(),
    enabled: d.enabled,
    rules: d.rules.map((r) => ({
      rulePriority: numberOf(r.rulePriority),
      ...(r.description.trim() ? { description: r.description.trim() } : {}),
      selection: {
        tagStatus: r.tagStatus,
        ...tagLists(r.tagStatus, r.tagMode, r.tags),
        countType: r.countType,
        ...(r.countType === 'imageCountMoreThan' ? {} : { countUnit: 'days' as const }),
        countNumber: numberOf(r.countNumber),
      },
      action: { type: 'expire' as const },
    })),
    keep: d.keep.map((k) => ({
      ...(k.description.trim() ? { description: k.description.trim() } : {}),
      ...(k.tagStatus !== 'any' ? { tagStatus: k.tagStatus } : {}),
      ...tagLists(k.tagStatus, k.tagMode, k.tags),
      ...(k.kind === 'mostRecentlyPulled' ? { mostRecentlyPulled: numberOf(k.count) } : k.kind === 'pulledWithinDays' ? { pulledWithinDays: numberOf(k.count) } : {}),
    })),
  };
}

export function toDraft(p: Policy): Draft {
  const mode = (s: { tagPatternList?: string[]; tagPrefixList?: string[] }): [TagMode, string] =>
    s.tagPatternList ? ['patterns', s.tagPatternList.join(', ')] : s.tagPrefixList ? ['prefixes', s.tagPrefixList.join(', ')] : ['all', ''];
  return {
    id: p.id,
    description: p.description ?? '',
    scopeKind: p.scope === 'registry' ? 'registry' : 'repositories',
    repositories: p.scope === 'registry' ? '' : p.scope.repositories.join(', '),
    schedule: p.schedule,
    enabled: p.enabled,
    rules: p.rules.map((r) => {
      const [tagMode, tags] = mode(r.selection);
      return { key: nextKey++, rulePriority: String(r.rulePriority), description: r.description ?? '', tagStatus: r.selection.tagStatus, tagMode, tags, countType: r.selection.countType, countNumber: String(r.selection.countNumber) };
    }),
    keep: p.keep.map((k) => {
      const [tagMode, tags] = mode(k);
      const status: TagStatus = k.tagStatus ?? (k.tagPatternList || k.tagPrefixList ? 'tagged' : 'any');
      const kind = k.mostRecentlyPulled !== undefined ? 'mostRecentlyPulled' : k.pulledWithinDays !== undefined ? 'pulledWithinDays' : 'all';
      return { key: nextKey++, description: k.description ?? '', tagStatus: status, tagMode, tags, kind, count: String(k.mostRecentlyPulled ?? k.pulledWithinDays ?? 10) };
    }),
  };
}

/** How a rule reads in the list: "untagged, pushed more than 14 days ago". */
export function describeRule(r: ExpireRule): string {
  const s = r.selection;
  const tags = s.tagPatternList ? ` ${s.tagPatternList.join(' & ')}` : s.tagPrefixList ? ` ${s.tagPrefixList.map((p) => `${p}…`).join(' & ')}` : '';
  const when =
    s.countType === 'imageCountMoreThan'
      ? `beyond the ${s.countNumber} newest`
      : s.countType === 'sinceImagePushed'
        ? `pushed more than ${plural(s.countNumber, 'day')} ago`
        : `not pulled for ${plural(s.countNumber, 'day')}`;
  return `${s.tagStatus}${tags}: ${when}`;
}

export function describeKeep(k: KeepRule): string {
  const status = k.tagStatus ?? (k.tagPatternList || k.tagPrefixList ? 'tagged' : 'any');
  const tags = k.tagPatternList ? ` ${k.tagPatternList.join(' & ')}` : k.tagPrefixList ? ` ${k.tagPrefixList.map((p) => `${p}…`).join(' & ')}` : '';
  const what = k.mostRecentlyPulled !== undefined ? `the ${k.mostRecentlyPulled} most recently pulled` : k.pulledWithinDays !== undefined ? `pulled within ${plural(k.pulledWithinDays, 'day')}` : 'all';
  return `${what} (${status}${tags})`;
}
