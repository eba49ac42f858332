/** What the settings sections share: their props and the roles the API grants. */

export interface SectionProps {
  registry: string;
}

export const ROLES = [
  { value: 'read-only', label: 'Read-only', hint: 'Can pull.' },
  { value: 'read-write', label: 'Read-write', hint: 'Can pull and push.' },
  { value: 'admin', label: 'Admin', hint: 'Can pull, push, delete, and manage these settings.' },
] as const;

export type Role = (typeof ROLES)[number]['value'];

export const roleLabel = (role: string) => ROLES.find((r) => r.value === role)?.label ?? role;

export interface Grant {
  id: number;
  subject_kind: 'user' | 'team' | 'robot';
  /** A username, a team name, or a robot's login (`registry+name`). */
  subject: string;
  role: Role;
  repository_pattern: string | null;
  created_at: string;
}

export interface TokenView {
  id: string;
  name: string;
  scopes: { registry: string; repositories?: string; actions: string[] }[] | null;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  created_at: string;
}

/** Expiry choices for tokens and robot secrets, in seconds (none: never). */
export const EXPIRY_CHOICES = [
  { value: '', label: 'Never' },
  { value: String(7 * 86_400), label: '7 days' },
  { value: String(30 * 86_400), label: '30 days' },
  { value: String(90 * 86_400), label: '90 days' },
  { value: String(365 * 86_400), label: '1 year' },
];

/** "Active", "Revoked" or "Expired", for a token or a robot secret. */
export function tokenState(t: TokenView, now = Date.now()): 'active' | 'revoked' | 'expired' {
  if (t.revoked_at) return 'revoked';
  if (t.expires_at && Date.parse(t.expires_at) <= now) return 'expired';
  return 'active';
}

/** Splits "a, b\nc" into ["a", "b", "c"]. */
export const listOf = (text: string) =>
  text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
