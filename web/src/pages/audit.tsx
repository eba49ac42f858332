import { PageHeader } from '../components/page-header';
import type { PageProps } from '../routes';

export function AuditPage(_props: PageProps) {
  return <PageHeader title="Audit log" />;
}
