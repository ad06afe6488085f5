"use client";

import { useCallback, useState } from "react";

import { ApiError } from "./api/errors";

/** Submitting state and the API's error for a form; `errorsFor(field)` gives the messages to show next to a field. */
export function useSubmit<A extends unknown[], R>(action: (...args: A) => Promise<R>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = useCallback(
    async (...args: A): Promise<R | undefined> => {
      setBusy(true);
      setError(null);
      try {
        return await action(...args);
      } catch (err) {
        setError(err);
        return undefined;
      } finally {
        setBusy(false);
      }
    },
    [action],
  );
  const errorsFor = useCallback(
    (field: string, nested = false) => (error instanceof ApiError ? error.forField(field, nested) : []),
    [error],
  );
  return { submit, busy, error, errorsFor, setError };
}
