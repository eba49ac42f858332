import { PageHeader } from '../components/page-header';
import type { PageProps } from '../routes';

export function RepositoriesPage(_props: PageProps) {
  return <PageHeader title="Repositories" />;
}
