/**
 * Requests the host answers with a `result` (send, edit and resend): fresh request ids, the client-side length
 * check, and a hook that holds one pending request until its result shows up in the model.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { LIMITS } from '../src/protocol';
import type { RequestResult } from '../src/protocol';
import { t } from './l10n';

let counter = 0;

/** A request id unique within this webview's life and unlikely to repeat across reloads (matches the id schema). */
export function newRequestId(): string {
  counter += 1;
  const random = Math.random().toString(36).slice(2, 8) || '0';
  return `r${counter}-${random}`;
}

/** A fresh id for a `draft` post (the host echoes it in `promptSize`). */
export function newDraftId(): string {
  counter += 1;
  const random = Math.random().toString(36).slice(2, 8) || '0';
  return `d${counter}-${random}`;
}

/** Why `text` cannot be sent before the host ever sees it, if it cannot. */
export function tooLongReason(text: string): string | undefined {
  if (text.length <= LIMITS.maxText) return undefined;
  const fmt = (n: number): string => n.toLocaleString('en-US');
  return t('This message is too long to send ({0} characters; the limit is {1}).', fmt(text.length), fmt(LIMITS.maxText));
}

export type Results = Readonly<Record<string, RequestResult>>;

export interface PendingRequest<T> {
  /** The data of the request in flight, if any. */
  pending: T | undefined;
  /** Starts a request: returns its id (post it with the message). */
  start(data: T): string;
}

/**
 * One request at a time: `start` records it, and when `results` holds its answer `onResult` runs once with the
 * data given to `start`. A ref mirrors the state so two sends in one tick cannot both start.
 */
export function usePendingRequest<T>(results: Results, onResult: (result: RequestResult, data: T) => void): PendingRequest<T> {
  const [pending, setPending] = useState<{ requestId: string; data: T } | undefined>(undefined);
  const current = useRef(pending);
  const result = pending ? results[pending.requestId] : undefined;
  useEffect(() => {
    if (!pending || !result) return;
    current.current = undefined;
    setPending(undefined);
    onResult(result, pending.data);
  }, [result, pending]);
  return {
    pending: current.current?.data,
    start: (data) => {
      const requestId = newRequestId();
      current.current = { requestId, data };
      setPending(current.current);
      return requestId;
    },
  };
}
