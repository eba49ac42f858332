import { useState } from 'react';

/** Copies `text`; says so for a moment. `label` names what is copied, for screen readers. */
export function CopyButton({ text, label = 'Copy', className = '' }: { text: string; label?: string; className?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      // No clipboard permission (plain HTTP on a non-local address): the text stays selectable beside the button.
      setState('failed');
    }
    window.setTimeout(() => setState('idle'), 2000);
  };
  return (
    <button type="button" className={`button small secondary copy ${className}`} onClick={copy} aria-label={label}>
      <span aria-live="polite">{state === 'copied' ? 'Copied' : state === 'failed' ? 'Select and copy' : 'Copy'}</span>
    </button>
  );
}

/** A shell command with its copy button. */
export function Command({ command, label }: { command: string; label: string }) {
  return (
    <div className="command">
      <code>{command}</code>
      <CopyButton text={command} label={label} />
    </div>
  );
}
