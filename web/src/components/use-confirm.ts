import { useCallback, useState } from 'react';
import type { ApiError } from '../api/client';
import { useAction } from '../api/use-api';

export interface Confirmation<T> {
  /** What the dialog asks about; undefined while it is closed. */
  target: T | undefined;
  /** Opens the dialog about `target`. */
  ask(target: T): void;
  /**
   * Runs `work` on the target, one request at a time: the dialog closes once it
   * resolves, and stays open with the error when it throws.
   */
  confirm(work: (target: T) => Promise<unknown>): Promise<void>;
  /** Spread on the ConfirmDialog: its open, busy, error and onClose. */
  dialog: { open: boolean; busy: boolean; error: ApiError | undefined; onClose: () => void };
}

/** An action on one item (a rule, a token, a repository) that a ConfirmDialog asks about first. */
export function useConfirm<T>(): Confirmation<T> {
  const [target, setTarget] = useState<T>();
  const action = useAction();
  const { run, clearError } = action;
  const ask = useCallback(
    (next: T) => {
      clearError();
      setTarget(next);
    },
    [clearError],
  );
  const close = useCallback(() => {
    setTarget(undefined);
    clearError();
  }, [clearError]);
  const confirm = async (work: (target: T) => Promise<unknown>) => {
    if (target === undefined) return;
    const current = target;
    const done = await run(async () => {
      await work(current);
      return true;
    });
    if (done) setTarget(undefined);
  };
  return { target, ask, confirm, dialog: { open: target !== undefined, busy: action.busy, error: action.error, onClose: close } };
}
