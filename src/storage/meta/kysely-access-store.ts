import type { Kysely, Selectable } from 'kysely';
import type {
  AccessStore,
  AuditEvent,
  AuditFilter,
  GrantRecord,
  RegistryRecord,
  RobotRecord,
  SubjectKind,
  TeamRecord,
  TokenRecord,
  UserRecord,
} from '../../auth/access-store.js';
import type { Role, TokenScope } from '../../auth/scopes.js';
import { caseInsensitiveLike } from './dialect.js';
import type { Database, GrantsTable, TokensTable, UsersTable } from './schema.js';

/** AccessStore over the same kysely database as the MetaStore, in portable SQL. */
export class KyselyAccessStore implements AccessStore {
  /** Tier and region of registries created without them (by a first push); set from the configuration at start. */
  registryDefaults: { tierSlug?: string; region?: string } = {};

  constructor(private readonly db: Kysely<Database>) {}

  async countUsers(): Promise<number> {
    const row = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async createUser(user: { username: string; passwordHash: string; serverAdmin: boolean; canCreateRegistries: boolean }): Promise<UserRecord> {
    const now = Date.now();
    await this.db
      .insertInto('users')
      .values({
        username: user.username,
        password_hash: user.passwordHash,
        server_admin: user.serverAdmin ? 1 : 0,
        can_create_registries: user.canCreateRegistries ? 1 : 0,
        created_at: now,
        updated_at: now,
      })
      .execute();
    return (await this.getUser(user.username))!;
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    return row ? toUser(row) : undefined;
  }

  async getUserById(id: number): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toUser(row) : undefined;
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('username').execute()).map(toUser);
  }

  async updateUser(id: number, changes: Partial<Pick<UserRecord, 'passwordHash' | 'disabled' | 'serverAdmin' | 'canCreateRegistries'>>): Promise<void> {
    const set: Partial<Record<keyof UsersTable, unknown>> = { updated_at: Date.now() };
    if (changes.passwordHash !== undefined) set.password_hash = changes.passwordHash;
    if (changes.disabled !== undefined) set.disabled = changes.disabled ? 1 : 0;
    if (changes.serverAdmin !== undefined) set.server_admin = changes.serverAdmin ? 1 : 0;
    if (changes.canCreateRegistries !== undefined) set.can_create_registries = changes.canCreateRegistries ? 1 : 0;
    await this.db.updateTable('users').set(set as never).where('id', '=', id).execute();
  }

  async deleteUser(id: number): Promise<void> {
    await this.db.deleteFrom('grants').where('subject_kind', '=', 'user').where('subject_id', '=', id).execute();
    await this.db.deleteFrom('tokens').where('owner_kind', '=', 'user').where('owner_id', '=', id).execute();
    await this.db.deleteFrom('team_members').where('user_id', '=', id).execute();
    await this.db.deleteFrom('users').where('id', '=', id).execute();
  }

  async createTeam(name: string): Promise<TeamRecord> {
    await this.db.insertInto('teams').values({ name, created_at: Date.now() }).execute();
    return (await this.getTeam(name))!;
  }

  async getTeam(name: string): Promise<TeamRecord | undefined> {
    const row = await this.db.selectFrom('teams').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) return undefined;
    return { id: Number(row.id), name: row.name, createdAt: Number(row.created_at), members: await this.memberNames(Number(row.id)) };
  }

  async listTeams(): Promise<TeamRecord[]> {
    const rows = await this.db.selectFrom('teams').selectAll().orderBy('name').execute();
    return Promise.all(rows.map(async (r) => ({ id: Number(r.id), name: r.name, createdAt: Number(r.created_at), members: await this.memberNames(Number(r.id)) })));
  }

  private async memberNames(teamId: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('team_members as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select('u.username')
      .where('m.team_id', '=', teamId)
      .orderBy('u.username')
      .execute();
    return rows.map((r) => r.username);
  }

  async deleteTeam(id: number): Promise<void> {
    await this.db.deleteFrom('grants').where('subject_kind', '=', 'team').where('subject_id', '=', id).execute();
    await this.db.deleteFrom('team_members').where('team_id', '=', id).execute();
    await this.db.deleteFrom('teams').where('id', '=', id).execute();
  }

  async addTeamMember(teamId: number, userId: number): Promise<void> {
    await this.db
      .insertInto('team_members')
      .values({ team_id: teamId, user_id: userId })
      .onConflict((oc) => oc.columns(['team_id', 'user_id']).doNothing())
      .execute();
  }

  async removeTeamMember(teamId: number, userId: number): Promise<boolean> {
    const res = await this.db.deleteFrom('team_members').where('team_id', '=', teamId).where('user_id', '=', userId).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async teamIdsOf(userId: number): Promise<number[]> {
    const rows = await this.db.selectFrom('team_members').select('team_id').where('user_id', '=', userId).execute();
    return rows.map((r) => Number(r.team_id));
  }

  async getRegistry(name: string): Promise<RegistryRecord | undefined> {
    const row = await this.db.selectFrom('registries').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? { id: Number(row.id), name: row.name, public: Number(row.public) === 1, createdAt: Number(row.created_at) } : undefined;
  }

  async listRegistries(): Promise<RegistryRecord[]> {
    const rows = await this.db.selectFrom('registries').selectAll().orderBy('name').execute();
    return rows.map((row) => ({ id: Number(row.id), name: row.name, public: Number(row.public) === 1, createdAt: Number(row.created_at) }));
  }

  async createRegistry(name: string, isPublic: boolean, settings = this.registryDefaults): Promise<RegistryRecord> {
    const now = Date.now();
    await this.db
      .insertInto('registries')
      .values({ name, created_at: now, public: isPublic ? 1 : 0, tier_slug: settings.tierSlug, region: settings.region, tier_updated_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    return (await this.getRegistry(name))!;
  }

  async setRegistryPublic(id: number, isPublic: boolean): Promise<void> {
    await this.db.updateTable('registries').set({ public: isPublic ? 1 : 0 }).where('id', '=', id).execute();
  }

  async createRobot(registryId: number, name: string): Promise<RobotRecord> {
    const inserted = await this.db.insertInto('robots').values({ registry_id: registryId, name, created_at: Date.now() }).returning('id').executeTakeFirstOrThrow();
    return (await this.getRobotById(Number(inserted.id)))!;
  }

  private robots() {
    return this.db
      .selectFrom('robots as r')
      .innerJoin('registries as g', 'g.id', 'r.registry_id')
      .select(['r.id', 'r.registry_id', 'r.name', 'r.disabled', 'r.created_at', 'g.name as registry']);
  }

  async getRobot(registry: string, name: string): Promise<RobotRecord | undefined> {
    const row = await this.robots().where('g.name', '=', registry).where('r.name', '=', name).executeTakeFirst();
    return row ? toRobot(row) : undefined;
  }

  async getRobotById(id: number): Promise<RobotRecord | undefined> {
    const row = await this.robots().where('r.id', '=', id).executeTakeFirst();
    return row ? toRobot(row) : undefined;
  }

  async listRobots(registryId: number): Promise<RobotRecord[]> {
    return (await this.robots().where('r.registry_id', '=', registryId).orderBy('r.name').execute()).map(toRobot);
  }

  async deleteRobot(id: number): Promise<void> {
    await this.db.deleteFrom('grants').where('subject_kind', '=', 'robot').where('subject_id', '=', id).execute();
    await this.db.deleteFrom('tokens').where('owner_kind', '=', 'robot').where('owner_id', '=', id).execute();
    await this.db.deleteFrom('robots').where('id', '=', id).execute();
  }

  async addGrant(grant: { registryId: number; subjectKind: SubjectKind; subjectId: number; role: Role; repositoryPattern: string | null }): Promise<number> {
    const row = await this.db
      .insertInto('grants')
      .values({
        registry_id: grant.registryId,
        subject_kind: grant.subjectKind,
        subject_id: grant.subjectId,
        role: grant.role,
        repository_pattern: grant.repositoryPattern,
        created_at: Date.now(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async listGrants(registryId: number): Promise<GrantRecord[]> {
    const rows = await this.db.selectFrom('grants').selectAll().where('registry_id', '=', registryId).orderBy('id').execute();
    return Promise.all(rows.map(async (r) => toGrant(r, await this.subjectName(r.subject_kind as SubjectKind, Number(r.subject_id)))));
  }

  private async subjectName(kind: SubjectKind, id: number): Promise<string> {
    if (kind === 'user') return (await this.getUserById(id))?.username ?? `#${id}`;
    if (kind === 'robot') {
      const robot = await this.getRobotById(id);
      return robot ? `${robot.registry}+${robot.name}` : `#${id}`;
    }
    const row = await this.db.selectFrom('teams').select('name').where('id', '=', id).executeTakeFirst();
    return row?.name ?? `#${id}`;
  }

  async deleteGrant(registryId: number, id: number): Promise<boolean> {
    const res = await this.db.deleteFrom('grants').where('registry_id', '=', registryId).where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async grantsFor(registryId: number, subjects: { kind: SubjectKind; id: number }[]): Promise<GrantRecord[]> {
    if (subjects.length === 0) return [];
    const rows = await this.db
      .selectFrom('grants')
      .selectAll()
      .where('registry_id', '=', registryId)
      .where((eb) => eb.or(subjects.map((s) => eb.and([eb('subject_kind', '=', s.kind), eb('subject_id', '=', s.id)]))))
      .execute();
    return rows.map((r) => toGrant(r, ''));
  }

  async allGrantsFor(subjects: { kind: SubjectKind; id: number }[]): Promise<(GrantRecord & { registry: string })[]> {
    if (subjects.length === 0) return [];
    const rows = await this.db
      .selectFrom('grants as x')
      .innerJoin('registries as g', 'g.id', 'x.registry_id')
      .selectAll('x')
      .select('g.name as registry')
      .where((eb) => eb.or(subjects.map((s) => eb.and([eb('x.subject_kind', '=', s.kind), eb('x.subject_id', '=', s.id)]))))
      .execute();
    return rows.map((r) => ({ ...toGrant(r, ''), registry: r.registry }));
  }

  async createToken(token: Omit<TokenRecord, 'lastUsedAt' | 'revokedAt'>): Promise<void> {
    await this.db
      .insertInto('tokens')
      .values({
        id: token.id,
        kind: token.kind,
        owner_kind: token.ownerKind,
        owner_id: token.ownerId,
        name: token.name,
        secret_hash: token.secretHash,
        scopes: token.scopes ? JSON.stringify(token.scopes) : null,
        expires_at: token.expiresAt,
        created_at: token.createdAt,
      })
      .execute();
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = await this.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toToken(row) : undefined;
  }

  async listTokens(ownerKind: 'user' | 'robot', ownerId: number): Promise<TokenRecord[]> {
    const rows = await this.db
      .selectFrom('tokens')
      .selectAll()
      .where('owner_kind', '=', ownerKind)
      .where('owner_id', '=', ownerId)
      .where('kind', 'not in', ['refresh', 'session'])
      .orderBy('created_at')
      .execute();
    return rows.map(toToken);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    const res = await this.db.updateTable('tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async touchToken(id: string, at: number): Promise<void> {
    await this.db.updateTable('tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  async revokeSessions(userId: number, at: number, exceptId?: string): Promise<number> {
    let update = this.db
      .updateTable('tokens')
      .set({ revoked_at: at })
      .where('kind', '=', 'session')
      .where('owner_kind', '=', 'user')
      .where('owner_id', '=', userId)
      .where('revoked_at', 'is', null);
    if (exceptId !== undefined) update = update.where('id', '!=', exceptId);
    const res = await update.executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  async pruneSessions(before: number): Promise<number> {
    const res = await this.db
      .deleteFrom('tokens')
      .where('kind', '=', 'session')
      .where((eb) => eb.or([eb('expires_at', '<', before), eb('revoked_at', '<', before)]))
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  async appendAudit(events: AuditEvent | readonly AuditEvent[]): Promise<void> {
    const list = Array.isArray(events) ? events : [events as AuditEvent];
    if (list.length === 0) return;
    // One statement, so one commit however many events: callers batch concurrent writes.
    await this.db
      .insertInto('audit_events')
      .values(
        list.map((e) => ({
          at: e.at,
          actor: e.actor,
          actor_kind: e.actorKind,
          source: e.source ?? null,
          action: e.action,
          registry: e.registry ?? null,
          resource: e.resource ?? null,
          outcome: e.outcome,
          reason: e.reason ?? null,
          detail: e.detail ? JSON.stringify(e.detail) : null,
        })),
      )
      .execute();
  }

  async queryAudit(filter: AuditFilter, limit: number, beforeId?: number): Promise<(AuditEvent & { id: number })[]> {
    let q = this.db.selectFrom('audit_events').selectAll().orderBy('id', 'desc').limit(limit);
    if (beforeId !== undefined) q = q.where('id', '<', beforeId);
    if (filter.actor) q = q.where('actor', '=', filter.actor);
    if (filter.registry) q = q.where('registry', '=', filter.registry);
    if (filter.outcome) q = q.where('outcome', '=', filter.outcome);
    if (filter.action) q = filter.action.endsWith('.') ? q.where('action', caseInsensitiveLike(this.db), `${filter.action.replace(/[%_]/g, '')}%`) : q.where('action', '=', filter.action);
    if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
    if (filter.until !== undefined) q = q.where('at', '<', filter.until);
    const rows = await q.execute();
    return rows.map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      actor: r.actor,
      actorKind: r.actor_kind as AuditEvent['actorKind'],
      source: r.source ?? undefined,
      action: r.action,
      registry: r.registry ?? undefined,
      resource: r.resource ?? undefined,
      outcome: r.outcome as AuditEvent['outcome'],
      reason: r.reason ?? undefined,
      detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : undefined,
    }));
  }
}

function toUser(row: Selectable<UsersTable>): UserRecord {
  return {
    id: Number(row.id),
    username: row.username,
    passwordHash: row.password_hash,
    disabled: Number(row.disabled) === 1,
    serverAdmin: Number(row.server_admin) === 1,
    canCreateRegistries: Number(row.can_create_registries) === 1,
    createdAt: Number(row.created_at),
  };
}

function toRobot(row: { id: number; registry_id: number; name: string; disabled: number; created_at: number; registry: string }): RobotRecord {
  return {
    id: Number(row.id),
    registryId: Number(row.registry_id),
    registry: row.registry,
    name: row.name,
    disabled: Number(row.disabled) === 1,
    createdAt: Number(row.created_at),
  };
}

function toGrant(row: Selectable<GrantsTable>, subjectName: string): GrantRecord {
  return {
    id: Number(row.id),
    registryId: Number(row.registry_id),
    subjectKind: row.subject_kind as SubjectKind,
    subjectId: Number(row.subject_id),
    subjectName,
    role: row.role as Role,
    repositoryPattern: row.repository_pattern,
    createdAt: Number(row.created_at),
  };
}

function toToken(row: Selectable<TokensTable>): TokenRecord {
  return {
    id: row.id,
    kind: row.kind as TokenRecord['kind'],
    ownerKind: row.owner_kind as TokenRecord['ownerKind'],
    ownerId: Number(row.owner_id),
    name: row.name,
    secretHash: row.secret_hash,
    scopes: row.scopes ? (JSON.parse(row.scopes) as TokenScope[]) : null,
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
    lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
    createdAt: Number(row.created_at),
  };
}
