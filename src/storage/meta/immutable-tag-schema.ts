import type { Generated } from 'kysely';

/** Table types of immutable-tag rules (migration 010). */
export interface ImmutableTagRulesTable {
  id: Generated<number>;
  registry_id: number;
  /** Glob over repository paths inside the registry (`**` = all). */
  repository_pattern: string;
  /** Glob over tags (`v*`, `release-*`). */
  tag_pattern: string;
  created_by: string;
  created_at: number;
}

export interface ImmutableTagTables {
  immutable_tag_rules: ImmutableTagRulesTable;
}
