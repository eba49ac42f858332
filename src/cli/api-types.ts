/** The management API's answers, as far as the CLI reads them (see docs for the full shapes). */
import type { TokenScope } from '../auth/scopes.js';

export type { TokenScope };

export interface UserView {
  username: string;
  disabled: boolean;
  server_admin: boolean;
  can_create_registries: boolean;
  created_at: string;
}

export interface AccountView extends Partial<UserView> {
  username: string;
  robot?: boolean;
  registry?: string;
  teams?: string[];
  token_scoped?: boolean;
}

export interface TeamView {
  name: string;
  members: string[];
  created_at: string;
}

export interface TokenView {
  id: string;
  name: string;
  scopes: TokenScope[] | null;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  created_at: string;
}

export interface CreatedSecret {
  token: TokenView;
  secret: string;
  username?: string;
}

export interface RobotView {
  name: string;
  username: string;
  disabled: boolean;
  created_at: string;
  secrets: TokenView[];
}

export interface RegistryView {
  name: string;
  public: boolean;
  created_at: string;
}

export interface GrantView {
  id: number;
  subject_kind: 'user' | 'team' | 'robot';
  subject: string;
  role: string;
  repository_pattern: string | null;
  created_at: string;
}

export interface AuditEventView {
  id: number;
  time: string;
  actor: string;
  actor_kind: string;
  source: string | null;
  action: string;
  registry: string | null;
  resource: string | null;
  outcome: string;
  reason: string | null;
  detail: unknown;
}

export interface KeyView {
  kid: string;
  created_at: string;
  retired_at: string | null;
}

/** A token is usable until revoked or expired. */
export function tokenStatus(t: TokenView, now = Date.now()): string {
  if (t.revoked_at) return 'revoked';
  if (t.expires_at && Date.parse(t.expires_at) <= now) return 'expired';
  return 'active';
}
