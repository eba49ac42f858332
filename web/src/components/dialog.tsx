import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import type { ApiError } from '../api/client';
import { ErrorMessage } from './feedback';

/** A modal on the native <dialog>: focus is trapped and Escape closes it, as browsers do. */
export function Dialog({ title, open, onClose, children }: { title: string; open: boolean; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} className="dialog" aria-labelledby={titleId} onClose={onClose} onCancel={onClose}>
      {open && (
        <>
          <h2 id={titleId}>{title}</h2>
          {children}
        </>
      )}
    </dialog>
  );
}

/**
 * Confirms a destructive action. With `confirmText`, the user must type it
 * (a registry's name before deleting it) before the button is enabled.
 */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  confirmText?: string;
  busy?: boolean;
  error?: ApiError;
  onConfirm: () => void;
  onClose: () => void;
}) {
  const [typed, setTyped] = useState('');
  const inputId = useId();
  useEffect(() => {
    if (!props.open) setTyped('');
  }, [props.open]);
  const ready = props.confirmText === undefined || typed === props.confirmText;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (ready && !props.busy) props.onConfirm();
  };
  return (
    <Dialog title={props.title} open={props.open} onClose={props.onClose}>
      <form onSubmit={submit}>
        <div className="dialog-body">{props.children}</div>
        {props.confirmText !== undefined && (
          <div className="field">
            <label htmlFor={inputId}>
              Type <strong>{props.confirmText}</strong> to confirm
            </label>
            <input id={inputId} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" autoFocus spellCheck={false} />
          </div>
        )}
        <ErrorMessage error={props.error} />
        <div className="dialog-actions">
          <button type="button" className="button secondary" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" className="button danger" disabled={!ready || props.busy}>
            {props.busy ? 'Working…' : props.confirmLabel}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
