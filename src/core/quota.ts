import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { registryOf, type RepoName } from '../oci/name.js';
import type { MetaStore } from '../storage/meta/meta-store.js';
import { bytesText, eligibility, isUnrestricted, repositoriesText, storageLimit, type EligibilityReason, type Footprint, type Tier, type TierCatalog } from './tiers.js';
import type { UsageStore } from './usage.js';

/**
 * The quota of one push into one registry, looked up once per request. Registries
 * whose tier limits nothing (the self-hosted default) get `NO_QUOTA`, which
 * costs no further queries.
 */
export interface PushQuota {
  /** Runs `work` (which creates the repository) only if the tier has room for one more. */
  newRepository<T>(name: RepoName, work: () => Promise<T>): Promise<T>;
  /** Refuses, before any byte is accepted, a blob of known size that cannot fit. */
  admitBlob(digest: Digest | undefined, bytes: number): Promise<void>;
  /**
   * Runs a metadata write inside `tx` and refuses it (the caller's transaction
   * rolls back) if it took the registry's committed storage past the limit. This
   * is the check concurrent pushes cannot slip past: writes are serialised there.
   */
  withinStorage<T>(tx: MetaStore, write: () => Promise<T>): Promise<T>;
}

export const NO_QUOTA: PushQuota = {
  newRepository: (_name, work) => work(),
  admitBlob: async () => undefined,
  withinStorage: (_tx, write) => write(),
};

/** Tier limits, enforced when content is pushed. */
export class Quota {
  /** Per-registry queues: creating repositories is serialised so two pushes cannot both take the last place. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly meta: MetaStore,
    private readonly store: UsageStore,
    private readonly tiers: TierCatalog,
  ) {}

  /** The tier of a registry, creating the registry (default tier and region) when a push is the first sign of it. */
  async tierOf(registry: string): Promise<Tier> {
    let account = await this.store.getAccount(registry);
    if (!account) {
      await this.store.ensureRegistry(registry, { tierSlug: this.tiers.defaultTier.slug, region: this.tiers.defaultRegion });
      account = await this.store.getAccount(registry);
    }
    return this.tiers.of(account?.tierSlug ?? this.tiers.defaultTier.slug);
  }

  async forPush(name: RepoName): Promise<PushQuota> {
    const registry = registryOf(name);
    const tier = await this.tierOf(registry);
    if (isUnrestricted(tier)) return NO_QUOTA;
    return {
      newRepository: (repo, work) => this.newRepository(registry, tier, repo, work),
      admitBlob: async (digest, bytes) => {
        const limit = storageLimit(tier);
        if (limit === null) return;
        if (digest !== undefined && (await this.store.holdsBlob(registry, digest))) return;
        const used = await this.meta.registryStorage(registry);
        if (used + bytes > limit) throw storageDenied(registry, tier, limit, used, bytes);
      },
      withinStorage: async (tx, write) => {
        const limit = storageLimit(tier);
        if (limit === null) return write();
        const before = await tx.registryStorage(registry);
        const result = await write();
        const after = await tx.registryStorage(registry);
        if (after > before && after > limit) throw storageDenied(registry, tier, limit, before, after - before);
        return result;
      },
    };
  }

  /** Whether a registry with this footprint could move to the tier; DigitalOcean's reasons when not. */
  async eligibility(registry: string, tier: Tier): Promise<EligibilityReason[]> {
    return eligibility(tier, await this.footprint(registry));
  }

  async footprint(registry: string): Promise<Footprint> {
    const [repositories, storageBytes] = await Promise.all([this.store.countRepositories(registry), this.meta.registryStorage(registry)]);
    return { repositories, storageBytes };
  }

  private async newRepository<T>(registry: string, tier: Tier, name: RepoName, work: () => Promise<T>): Promise<T> {
    const limit = tier.includedRepositories;
    if (limit === null || (await this.meta.getRepository(name))) return work();
    return this.serially(registry, async () => {
      if (!(await this.meta.getRepository(name))) {
        const count = await this.store.countRepositories(registry);
        if (count >= limit) {
          throw new RegistryError(
            'DENIED',
            `registry ${registry} on tier ${tier.slug} allows ${repositoriesText(limit)}; it has ${count}: upgrade its subscription or delete a repository to push ${name}`,
            { registry, tier: tier.slug, limit: 'repositories', included: limit, usage: count },
          );
        }
      }
      return work();
    });
  }

  private async serially<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.queues.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const mine = before.then(() => done);
    this.queues.set(key, mine);
    await before;
    try {
      return await work();
    } finally {
      release();
      if (this.queues.get(key) === mine) this.queues.delete(key);
    }
  }
}

function storageDenied(registry: string, tier: Tier, limit: number, used: number, adding: number): RegistryError {
  return new RegistryError(
    'DENIED',
    `registry ${registry} on tier ${tier.slug} allows ${bytesText(limit)} of storage; it uses ${bytesText(used)} and this push needs ${bytesText(adding)} more: upgrade its subscription or delete content`,
    { registry, tier: tier.slug, limit: 'storage', included: limit, usage: used, requested: adding },
  );
}
