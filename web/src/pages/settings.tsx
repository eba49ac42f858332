import { PageHeader } from '../components/page-header';
import type { PageProps } from '../routes';

export function SettingsPage(_props: PageProps) {
  return <PageHeader title="Settings" />;
}
