import { PageHeader } from '../components/page-header';
import type { PageProps } from '../routes';

export function RepositoryPage(_props: PageProps) {
  return <PageHeader title="Repository" />;
}
