import type { AccessStore } from './access-store.js';

/**
 * Every method of the port, by whether it changes what a remembered
 * credential may stand for. A Record, so a method added to AccessStore does
 * not compile until it is classified here.
 */
const CHANGES: Record<keyof AccessStore, boolean> = {
  countUsers: false,
  createUser: true,
  getUser: false,
  getUserById: false,
  listUsers: false,
  updateUser: true,
  deleteUser: true,
  createTeam: true,
  getTeam: false,
  listTeams: false,
  deleteTeam: true,
  addTeamMember: true,
  removeTeamMember: true,
  teamIdsOf: false,
  getRegistry: false,
  listRegistries: false,
  createRegistry: true,
  setRegistryPublic: true,
  createRobot: true,
  getRobot: false,
  getRobotById: false,
  listRobots: false,
  deleteRobot: true,
  addGrant: true,
  listGrants: false,
  deleteGrant: true,
  grantsFor: false,
  allGrantsFor: false,
  createToken: true,
  getToken: false,
  listTokens: false,
  revokeToken: true,
  // Written on every login: bookkeeping, not a change of who may do what.
  touchToken: false,
  revokeSessions: true,
  // Only rows that no longer authenticate anyone.
  pruneSessions: false,
  appendAudit: false,
  queryAudit: false,
};

/**
 * The store as the management API sees it on a node with a change feed: a
 * write that changes users, teams, registries, robots, grants or tokens
 * resolves only after `changed()` has run, i.e. after every node has been
 * told to forget the credentials it remembers. A request that revoked a
 * token is therefore not answered before the other nodes have heard of it.
 */
export function announcingChanges(store: AccessStore, changed: () => Promise<void>): AccessStore {
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const call = value as (...args: unknown[]) => unknown;
      if (!CHANGES[property as keyof AccessStore]) return call.bind(target);
      return async (...args: unknown[]) => {
        try {
          return await call.apply(target, args);
        } finally {
          // Even after a failure: a write of several statements may have been half done.
          await changed();
        }
      };
    },
  });
}
