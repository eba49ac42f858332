import { PageHeader } from '../components/page-header';
import type { PageProps } from '../routes';

export function GarbageCollectionPage(_props: PageProps) {
  return <PageHeader title="Garbage collection" />;
}
