import { useEffect, useRef, type ReactNode } from 'react';
import { CopyButton } from './copy-button';

/**
 * A secret the API shows once (a token, a robot's or a webhook's secret): in the
 * `.secret` box with its copy button and the warning that it will not be shown
 * again. Focus moves to the box so keyboard and screen reader users land on it.
 */
export function SecretReveal({ title, secret, label, children, onDone, level = 3 }: { title: string; secret: string; label: string; children?: ReactNode; onDone: () => void; /** Its heading's level, after the page's own. */ level?: 2 | 3 }) {
  const Heading = level === 2 ? 'h2' : 'h3';
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, [secret]);
  return (
    <div className="secret" ref={ref} tabIndex={-1} role="region" aria-label={title}>
      <Heading>{title}</Heading>
      <p>
        <strong>Copy it now: it will not be shown again.</strong> Berth keeps only a hash of it; if it is lost, make a new one.
      </p>
      <div className="secret-value">
        <code className="mono" data-secret>
          {secret}
        </code>
        <CopyButton text={secret} label={label} />
      </div>
      {children}
      <button type="button" className="button secondary small" onClick={onDone}>
        I have copied it
      </button>
    </div>
  );
}
