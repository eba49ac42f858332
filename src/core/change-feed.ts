/**
 * How nodes sharing one metadata store tell each other that something changed,
 * so a per-node cache can drop it (PostgreSQL LISTEN/NOTIFY in a scale-out
 * deployment). Topics are short strings: `repo:<name>` for a repository's
 * manifests, tags and blob links; `auth` for users, grants and tokens.
 */
export interface ChangeFeed {
  /** False while the node is not receiving changes: caches must serve nothing then. */
  readonly connected: boolean;
  /**
   * Announces a change to every node; resolves once the announcement has come
   * back to this node, so the others have had it delivered too.
   */
  publish(topic: string): Promise<void>;
  /** `topic` undefined: the feed was interrupted and anything may have changed meanwhile. */
  subscribe(listener: (topic: string | undefined) => void): void;
}

export const repositoryTopic = (repository: string) => `repo:${repository}`;
export const AUTH_TOPIC = 'auth';
