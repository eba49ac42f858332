/**
 * A status word in a badge whose colour follows what the word means (done,
 * failed, under way, ended); the word is always written, so colour is never
 * the only cue.
 */
export type Tone = 'ok' | 'bad' | 'busy' | 'off' | 'warn';

const TONES: Record<string, Tone> = {
  success: 'ok',
  succeeded: 'ok',
  delivered: 'ok',
  active: 'ok',
  enabled: 'ok',
  deleted: 'ok',
  failure: 'bad',
  failed: 'bad',
  denied: 'bad',
  refused: 'bad',
  requested: 'busy',
  queued: 'busy',
  pending: 'busy',
  running: 'busy',
  'scanning manifests': 'busy',
  'deleting unreferenced blobs': 'busy',
  cancelling: 'warn',
  cancelled: 'off',
  revoked: 'off',
  expired: 'off',
  disabled: 'off',
  changed: 'warn',
  gone: 'off',
};

export function toneOf(status: string): Tone | undefined {
  return TONES[status.toLowerCase()];
}

/** `status` as written by the API; `label` to show other words for it. */
export function StatusBadge({ status, label, tone }: { status: string; label?: string; tone?: Tone }) {
  const t = tone ?? toneOf(status);
  return <span className={`badge${t ? ` tone-${t}` : ''}`}>{label ?? status.charAt(0).toUpperCase() + status.slice(1)}</span>;
}
