import type { ComponentType } from 'react';
import { AuditPage } from './pages/audit';
import { GarbageCollectionPage } from './pages/garbage-collection';
import { RegistriesPage } from './pages/registries';
import { RepositoriesPage } from './pages/repositories';
import { RepositoryPage } from './pages/repository';
import { SettingsPage } from './pages/settings';
import { TeamsPage } from './pages/teams';
import { TokensPage } from './pages/tokens';
import { UsagePage } from './pages/usage';
import { VulnerabilityReportPage } from './pages/vulnerability-report';

/** What every page gets: the decoded path parameters of its route. */
export interface PageProps {
  params: Record<string, string>;
}

export interface Route {
  pattern: string;
  page: ComponentType<PageProps>;
  /** Registry pages show the registry's breadcrumb and sections above them. */
  inRegistry?: boolean;
}

/**
 * Every page of the panel. A repository path is one segment with its `/` as `%2F`
 * (`/registries/acme/repositories/tools%2Fdebian`).
 */
export const ROUTES: Route[] = [
  { pattern: '/', page: RegistriesPage },
  { pattern: '/registries/:registry', page: RepositoriesPage, inRegistry: true },
  { pattern: '/registries/:registry/repositories/:repo', page: RepositoryPage, inRegistry: true },
  { pattern: '/registries/:registry/repositories/:repo/manifests/:digest', page: VulnerabilityReportPage, inRegistry: true },
  { pattern: '/registries/:registry/usage', page: UsagePage, inRegistry: true },
  { pattern: '/registries/:registry/garbage-collection', page: GarbageCollectionPage, inRegistry: true },
  { pattern: '/registries/:registry/settings', page: SettingsPage, inRegistry: true },
  { pattern: '/registries/:registry/settings/:section', page: SettingsPage, inRegistry: true },
  { pattern: '/tokens', page: TokensPage },
  { pattern: '/teams', page: TeamsPage },
  { pattern: '/audit', page: AuditPage },
];
