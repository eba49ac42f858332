import { PageHeader } from '../components/page-header';
import type { PageProps } from '../routes';

export function RegistriesPage(_props: PageProps) {
  return <PageHeader title="Registries" />;
}
