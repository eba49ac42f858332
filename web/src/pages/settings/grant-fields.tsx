import type { ApiError } from '../../api/client';
import { Field } from '../../components/field';
import { Select } from '../../components/select';
import { fieldError } from '../../components/validation';
import { ROLES, type Role } from './shared';

/** What a grant gives, to a member or a robot: its role, and the repositories it covers. */
export function GrantFields({ registry, role, onRole, pattern, onPattern, error }: { registry: string; role: Role; onRole: (role: Role) => void; pattern: string; onPattern: (pattern: string) => void; error: ApiError | undefined }) {
  return (
    <>
      <Field label="Role" hint={ROLES.find((r) => r.value === role)?.hint}>
        <Select options={ROLES} value={role} onChange={onRole} />
      </Field>
      <Field label="Repositories (optional)" hint={`Empty: the whole registry. Or a pattern such as ${registry}/app/*`} error={fieldError(error, 'repository_pattern')}>
        <input value={pattern} onChange={(e) => onPattern(e.target.value)} placeholder={`${registry}/*`} autoComplete="off" spellCheck={false} />
      </Field>
    </>
  );
}
