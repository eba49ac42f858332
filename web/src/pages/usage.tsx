import { PageHeader } from '../components/page-header';
import type { PageProps } from '../routes';

export function UsagePage(_props: PageProps) {
  return <PageHeader title="Usage" />;
}
