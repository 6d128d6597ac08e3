import { useCallback, useEffect, useRef, useState } from 'react';
import { errorMessage } from '../bridge/types';

export interface Action {
  /** Runs a command; its failure is kept in `error` for the person to read. */
  run(fn: () => Promise<unknown>): Promise<boolean>;
  busy: boolean;
  error: string | undefined;
  clear(): void;
}

/** Busy and error state around a command sent to the terminal (whose events do the rest). */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
      return true;
    } catch (e) {
      if (mounted.current) setError(errorMessage(e));
      return false;
    } finally {
      if (mounted.current) setBusy(false);
    }
  }, []);
  const clear = useCallback(() => setError(undefined), []);
  return { run, busy, error, clear };
}
