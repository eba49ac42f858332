import { PageHeader } from '../components/page-header';
import type { PageProps } from '../routes';

export function TokensPage(_props: PageProps) {
  return <PageHeader title="Access tokens" />;
}
