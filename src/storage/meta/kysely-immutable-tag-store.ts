import type { Kysely, Selectable } from 'kysely';
import type { ImmutableTagRule, ImmutableTagStore } from '../../core/immutable-tags.js';
import type { ImmutableTagRulesTable } from './immutable-tag-schema.js';
import type { Database } from './schema.js';

export class KyselyImmutableTagStore implements ImmutableTagStore {
  constructor(private readonly db: Kysely<Database>) {}

  async rulesOf(registryName: string): Promise<ImmutableTagRule[]> {
    const rows = await this.db
      .selectFrom('immutable_tag_rules as r')
      .innerJoin('registries as g', 'g.id', 'r.registry_id')
      .selectAll('r')
      .where('g.name', '=', registryName)
      .orderBy('r.id')
      .execute();
    return rows.map(toRule);
  }

  async addRule(rule: Omit<ImmutableTagRule, 'id'>): Promise<ImmutableTagRule> {
    const row = await this.db
      .insertInto('immutable_tag_rules')
      .values({ registry_id: rule.registryId, repository_pattern: rule.repositoryPattern, tag_pattern: rule.tagPattern, created_by: rule.createdBy, created_at: rule.createdAt })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRule(row);
  }

  async removeRule(registryId: number, id: number): Promise<boolean> {
    const res = await this.db.deleteFrom('immutable_tag_rules').where('registry_id', '=', registryId).where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}

function toRule(row: Selectable<ImmutableTagRulesTable>): ImmutableTagRule {
  return {
    id: Number(row.id),
    registryId: Number(row.registry_id),
    repositoryPattern: row.repository_pattern,
    tagPattern: row.tag_pattern,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
  };
}
