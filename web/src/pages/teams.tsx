import { PageHeader } from '../components/page-header';
import type { PageProps } from '../routes';

export function TeamsPage(_props: PageProps) {
  return <PageHeader title="Teams" />;
}
