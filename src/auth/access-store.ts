import type { Role, TokenScope } from './scopes.js';

export interface UserRecord {
  id: number;
  username: string;
  passwordHash: string;
  disabled: boolean;
  serverAdmin: boolean;
  canCreateRegistries: boolean;
  createdAt: number;
}

export interface TeamRecord {
  id: number;
  name: string;
  members: string[];
  createdAt: number;
}

export interface RegistryRecord {
  id: number;
  name: string;
  public: boolean;
  createdAt: number;
}

export interface RobotRecord {
  id: number;
  registryId: number;
  registry: string;
  name: string;
  disabled: boolean;
  createdAt: number;
}

export type SubjectKind = 'user' | 'team' | 'robot';

export interface GrantRecord {
  id: number;
  registryId: number;
  subjectKind: SubjectKind;
  subjectId: number;
  /** Username, team name or robot name, for display. */
  subjectName: string;
  role: Role;
  repositoryPattern: string | null;
  createdAt: number;
}

export interface TokenRecord {
  id: string;
  /** `session`: a control-panel sign-in, accepted only from its cookie. */
  kind: 'pat' | 'robot' | 'refresh' | 'session';
  ownerKind: 'user' | 'robot';
  ownerId: number;
  name: string;
  secretHash: string;
  scopes: TokenScope[] | null;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  createdAt: number;
}

export interface AuditEvent {
  at: number;
  actor: string;
  actorKind: 'user' | 'robot' | 'anonymous' | 'system';
  source?: string;
  action: string;
  registry?: string;
  resource?: string;
  outcome: 'success' | 'failure' | 'denied';
  reason?: string;
  detail?: Record<string, unknown>;
}

export interface AuditFilter {
  actor?: string;
  registry?: string;
  /** Exact action, or a prefix ending in `.` (e.g. `token.`). */
  action?: string;
  outcome?: string;
  since?: number;
  until?: number;
}

/** The access-control port: identities, grants, tokens and the audit log. */
export interface AccessStore {
  countUsers(): Promise<number>;
  createUser(user: { username: string; passwordHash: string; serverAdmin: boolean; canCreateRegistries: boolean }): Promise<UserRecord>;
  getUser(username: string): Promise<UserRecord | undefined>;
  getUserById(id: number): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  updateUser(id: number, changes: Partial<Pick<UserRecord, 'passwordHash' | 'disabled' | 'serverAdmin' | 'canCreateRegistries'>>): Promise<void>;
  deleteUser(id: number): Promise<void>;

  createTeam(name: string): Promise<TeamRecord>;
  getTeam(name: string): Promise<TeamRecord | undefined>;
  listTeams(): Promise<TeamRecord[]>;
  deleteTeam(id: number): Promise<void>;
  addTeamMember(teamId: number, userId: number): Promise<void>;
  removeTeamMember(teamId: number, userId: number): Promise<boolean>;
  teamIdsOf(userId: number): Promise<number[]>;

  getRegistry(name: string): Promise<RegistryRecord | undefined>;
  listRegistries(): Promise<RegistryRecord[]>;
  /** Without `settings`, the registry gets the store's defaults (the configured default tier and first region). */
  createRegistry(name: string, isPublic: boolean, settings?: { tierSlug?: string; region?: string }): Promise<RegistryRecord>;
  setRegistryPublic(id: number, isPublic: boolean): Promise<void>;

  createRobot(registryId: number, name: string): Promise<RobotRecord>;
  getRobot(registry: string, name: string): Promise<RobotRecord | undefined>;
  getRobotById(id: number): Promise<RobotRecord | undefined>;
  listRobots(registryId: number): Promise<RobotRecord[]>;
  deleteRobot(id: number): Promise<void>;

  addGrant(grant: { registryId: number; subjectKind: SubjectKind; subjectId: number; role: Role; repositoryPattern: string | null }): Promise<number>;
  listGrants(registryId: number): Promise<GrantRecord[]>;
  deleteGrant(registryId: number, id: number): Promise<boolean>;
  /** Grants in a registry held by any of the subjects. */
  grantsFor(registryId: number, subjects: { kind: SubjectKind; id: number }[]): Promise<GrantRecord[]>;
  /** Every grant of the subjects across registries, with the registry's name. */
  allGrantsFor(subjects: { kind: SubjectKind; id: number }[]): Promise<(GrantRecord & { registry: string })[]>;

  createToken(token: Omit<TokenRecord, 'lastUsedAt' | 'revokedAt'>): Promise<void>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  /** The tokens an owner manages: personal access tokens and robot secrets (not refresh tokens or sessions). */
  listTokens(ownerKind: 'user' | 'robot', ownerId: number): Promise<TokenRecord[]>;
  revokeToken(id: string, at: number): Promise<boolean>;
  touchToken(id: string, at: number): Promise<void>;
  /** Revokes a user's open control-panel sessions, but `exceptId` (the one making the change); returns how many. */
  revokeSessions(userId: number, at: number, exceptId?: string): Promise<number>;
  /** Deletes control-panel sessions that expired or were revoked before `before`; returns how many. */
  pruneSessions(before: number): Promise<number>;

  /** Appends events in one write (one commit), in order. */
  appendAudit(events: AuditEvent | readonly AuditEvent[]): Promise<void>;
  queryAudit(filter: AuditFilter, limit: number, beforeId?: number): Promise<(AuditEvent & { id: number })[]>;
}
