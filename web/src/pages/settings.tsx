import type { ComponentType } from 'react';
import { seg } from '../api/client';
import { PageHeader } from '../components/page-header';
import { Link } from '../router';
import type { PageProps } from '../routes';
import { ImmutableTagsSection } from './settings/immutable';
import { MembersSection } from './settings/members';
import { PullPolicySection } from './settings/policy';
import { RetentionSection } from './settings/retention';
import { RobotsSection } from './settings/robots';
import type { SectionProps } from './settings/shared';
import { VisibilitySection } from './settings/visibility';
import { WebhooksSection } from './settings/webhooks';


/** The sections, in the order of the sub-navigation; the first is the default. */
const SECTIONS: { key: string; label: string; component: ComponentType<SectionProps> }[] = [
  { key: 'members', label: 'Members', component: MembersSection },
  { key: 'robots', label: 'Robot accounts', component: RobotsSection },
  { key: 'webhooks', label: 'Webhooks', component: WebhooksSection },
  { key: 'retention', label: 'Retention', component: RetentionSection },
  { key: 'immutable', label: 'Immutable tags', component: ImmutableTagsSection },
  { key: 'policy', label: 'Pull policy', component: PullPolicySection },
  { key: 'visibility', label: 'Visibility', component: VisibilitySection },
];

/** A registry's settings, one section at a time (`/settings/:section`, members by default). */
export function SettingsPage({ params }: PageProps) {
  const registry = params.registry!;
  const key = params.section ?? SECTIONS[0]!.key;
  const section = SECTIONS.find((s) => s.key === key);
  const base = `/registries/${seg(registry)}/settings`;
  const Section = section?.component;
  return (
    <>
      <PageHeader title="Settings" subtitle={section ? `${section.label} of ${registry}` : undefined} />
      <div className="settings-layout">
        <nav aria-label="Settings sections" className="settings-nav">
          <ul>
            {SECTIONS.map((s) => (
              <li key={s.key}>
                <Link to={`${base}/${s.key}`} aria-current={s.key === key ? 'page' : undefined}>
                  {s.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="settings-body">
          {Section ? (
            <Section key={`${registry}/${key}`} registry={registry} />
          ) : (
            <p>
              There is no settings section called <code>{key}</code>. <Link to={`${base}/${SECTIONS[0]!.key}`}>Go to {SECTIONS[0]!.label.toLowerCase()}</Link>.
            </p>
          )}
        </div>
      </div>
    </>
  );
}
