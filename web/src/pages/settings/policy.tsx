import { useEffect, useState, type FormEvent } from 'react';
import { api, seg } from '../../api/client';
import { useAction, useApi } from '../../api/use-api';
import { ErrorMessage, Loading, Notice } from '../../components/feedback';
import { Field } from '../../components/field';
import { Select } from '../../components/select';
import { fieldError } from '../../components/validation';
import { listOf, type SectionProps } from './shared';

type BlockSeverity = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW';

interface ScanPolicy {
  block_severity: BlockSeverity | null;
  allowlist: string[];
  block_unscanned: boolean;
}

const CHOICES: { value: '' | BlockSeverity; label: string }[] = [
  { value: '', label: 'Never block' },
  { value: 'CRITICAL', label: 'Critical' },
  { value: 'HIGH', label: 'High or worse' },
  { value: 'MEDIUM', label: 'Medium or worse' },
  { value: 'LOW', label: 'Low or worse' },
];

/** The registry's pull policy on vulnerable images: the severity that blocks pulls, unscanned images, and an allowlist. */
export function PullPolicySection({ registry }: SectionProps) {
  const path = `/registries/${seg(registry)}/scan-policy`;
  const policy = useApi<{ scan_policy: ScanPolicy }>(path);
  const [severity, setSeverity] = useState<'' | BlockSeverity>('');
  const [unscanned, setUnscanned] = useState(false);
  const [allowlist, setAllowlist] = useState('');
  const [saved, setSaved] = useState<string>();
  const action = useAction();

  const loaded = policy.data?.scan_policy;
  useEffect(() => {
    if (!loaded) return;
    setSeverity(loaded.block_severity ?? '');
    setUnscanned(loaded.block_unscanned);
    setAllowlist(loaded.allowlist.join('\n'));
  }, [loaded]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setSaved(undefined);
    const body = { block_severity: severity || null, block_unscanned: unscanned, allowlist: listOf(allowlist) };
    const answer = await action.run(() => api<{ scan_policy: ScanPolicy }>(path, { method: 'PUT', body }));
    if (answer) {
      const p = answer.scan_policy;
      setSaved(
        p.block_severity
          ? `Pull policy saved: pulls of images with ${CHOICES.find((c) => c.value === p.block_severity)?.label.toLowerCase()} findings are refused${p.block_unscanned ? ', and so are pulls of unscanned images' : ''}.`
          : `Pull policy saved: vulnerabilities do not block pulls${p.block_unscanned ? ', but unscanned images do' : ''}.`,
      );
      policy.reload();
    }
  };

  return (
    <section aria-labelledby="policy-heading">
      <h2 id="policy-heading">Pull policy</h2>
      <p className="muted">Every push is scanned for known vulnerabilities. This policy decides which images may still be pulled from {registry}.</p>
      {policy.error && !loaded ? (
        <ErrorMessage error={policy.error} onRetry={policy.reload} />
      ) : !loaded ? (
        <Loading label="Loading the pull policy…" />
      ) : (
        <form className="card" onSubmit={submit} aria-labelledby="policy-form-heading">
          <h3 id="policy-form-heading">Block pulls</h3>
          <Field label="Block images with findings of severity" hint="Pulls (manifest GETs) of such images are refused with DENIED." error={fieldError(action.error, 'block_severity')}>
            <Select options={CHOICES} value={severity} onChange={setSeverity} />
          </Field>
          <div className="checkbox">
            <input type="checkbox" id="policy-unscanned" checked={unscanned} onChange={(e) => setUnscanned(e.target.checked)} aria-describedby="policy-unscanned-hint" />
            <label htmlFor="policy-unscanned">Block images whose scan has not completed</label>
          </div>
          <p className="hint" id="policy-unscanned-hint">
            Including images just pushed, until their scan ends.
          </p>
          <Field label="Allowlist" hint="Vulnerability ids or aliases that never block (CVE-2024-1234, GHSA-…), one per line." error={fieldError(action.error, 'allowlist', { prefix: true })}>
            <textarea value={allowlist} onChange={(e) => setAllowlist(e.target.value)} rows={4} spellCheck={false} />
          </Field>
          <ErrorMessage error={action.error} />
          <div className="form-actions">
            <button type="submit" className="button primary" disabled={action.busy}>
              {action.busy ? 'Saving…' : 'Save pull policy'}
            </button>
          </div>
          {saved && <Notice>{saved}</Notice>}
        </form>
      )}
    </section>
  );
}
