import { shortDigest } from '../format';
import { CopyButton } from './copy-button';

/** A digest as docker prints it (`sha256:` and 12 hex digits), the full one on hover and on the copy button. */
export function Digest({ digest, label }: { digest: string; label?: string }) {
  return (
    <span className="digest">
      <code title={digest}>{shortDigest(digest)}</code>
      <CopyButton text={digest} label={label ?? `Copy digest ${digest}`} />
    </span>
  );
}
