import type { AccessClaim } from './registry-tokens.js';
import type { TokenScope } from './scopes.js';

/** Who is asking, as established by authentication. */
export type Principal =
  | { kind: 'anonymous' }
  | {
      kind: 'user';
      id: number;
      name: string;
      serverAdmin: boolean;
      canCreateRegistries: boolean;
      /** Set when authenticated with a scoped personal access token. */
      scopes: TokenScope[] | null;
      via: 'password' | 'token' | 'session';
      tokenId?: string;
    }
  | {
      kind: 'robot';
      id: number;
      /** `<registry>+<robot>`, the robot's login name. */
      name: string;
      registry: string;
      scopes: TokenScope[] | null;
      via: 'token';
      tokenId: string;
    }
  | {
      /** A registry JWT from the token endpoint: its access claim is the whole authority. */
      kind: 'bearer';
      name: string;
      subjectKind: 'user' | 'robot' | 'anonymous';
      access: AccessClaim[];
    };

export const ANONYMOUS: Principal = { kind: 'anonymous' };

export function principalName(p: Principal): string {
  return p.kind === 'anonymous' ? 'anonymous' : p.name;
}

export function actorKind(p: Principal): 'user' | 'robot' | 'anonymous' {
  if (p.kind === 'bearer') return p.subjectKind;
  return p.kind;
}

/** A robot's login name. */
export function robotLogin(registry: string, robot: string): string {
  return `${registry}+${robot}`;
}
