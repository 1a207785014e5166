/**
 * The one place that talks HTTP: Node's built-in `fetch`, a per-call time limit, bearer
 * keys, problem documents turned into typed errors, and retries with backoff for calls that
 * are safe to repeat (reads) when the server answers 503 or does not answer.
 */

import { BackendUnavailableError, ChronosError, QueuedError, errorFor, type Problem } from './errors.js';

/** How the client reaches the server. */
export interface ConnectionOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:7070`. */
  url: string;
  /** An API key (`chronos keys new`), sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Time limit of one attempt, in milliseconds (default 30000). */
  timeoutMs?: number;
  /** Attempts of a retryable call (default 3). */
  maxAttempts?: number;
}

export interface Request {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Safe to send again after a 503 or a network failure (it changes nothing). */
  idempotent: boolean;
  /**
   * A write's request id (`Idempotency-Key`): the server answers a repeat with the first
   * outcome, so the write is sent again after a 503 or a network failure, like a read.
   */
  requestId?: string;
  /** Stops the call: an aborted call rejects with the signal's reason and is not retried. */
  signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Http {
  private readonly base: string;
  private readonly apiKey: string | undefined;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;

  constructor(options: ConnectionOptions) {
    if (!options || typeof options.url !== 'string' || !/^https?:\/\//.test(options.url)) {
      throw new ChronosError('initChronos needs { url: "http://host:port" }', 'VALIDATION_ERROR', 0);
    }
    this.base = options.url.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  }

  /** Sends a request; the parsed JSON answer, or `undefined` for an empty one. */
  async send<T>(req: Request): Promise<T> {
    let url = `${this.base}${req.path}`;
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v !== undefined) params.set(k, String(v));
    }
    const qs = params.toString();
    if (qs) url += `?${qs}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    if (req.requestId !== undefined) headers['idempotency-key'] = req.requestId;
    let body: string | undefined;
    if (req.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.body);
    }
    const attempts = req.idempotent || req.requestId !== undefined ? this.maxAttempts : 1;
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(url, {
          method: req.method,
          headers,
          body,
          signal: req.signal ? AbortSignal.any([req.signal, AbortSignal.timeout(this.timeoutMs)]) : AbortSignal.timeout(this.timeoutMs),
        });
      } catch (cause) {
        // The caller stopped the call: nothing to retry or report as an outage.
        if (req.signal?.aborted) throw req.signal.reason;
        const timedOut = cause instanceof Error && cause.name === 'TimeoutError';
        const error = new BackendUnavailableError(
          timedOut ? `no answer within ${this.timeoutMs} ms` : `cannot reach ${this.base}: ${String(cause)}`,
          timedOut ? 'TIMEOUT' : 'NETWORK_ERROR',
          0,
        );
        if (attempt < attempts) {
          await sleep(backoff(attempt));
          continue;
        }
        throw error;
      }
      let text: string;
      try {
        text = await response.text();
      } catch (cause) {
        if (req.signal?.aborted) throw req.signal.reason;
        // The connection broke (or timed out) while the answer was being read.
        if (attempt < attempts) {
          await sleep(backoff(attempt));
          continue;
        }
        throw new BackendUnavailableError(`the answer from ${this.base} was cut off: ${String(cause)}`, 'NETWORK_ERROR', 0, undefined);
      }
      if (response.ok) {
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          throw new ChronosError(`${req.method} ${req.path}: the answer is not JSON`, 'INVALID_RESPONSE', response.status);
        }
        if (response.status === 202 && isQueued(parsed)) throw new QueuedError(parsed);
        return parsed as T;
      }
      let problem: Problem | undefined;
      try {
        problem = text ? (JSON.parse(text) as Problem) : undefined;
      } catch {
        problem = undefined;
      }
      if (response.status === 503 && attempt < attempts) {
        const retryAfter = Number(response.headers.get('retry-after'));
        await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 10_000) : backoff(attempt));
        continue;
      }
      throw errorFor(response.status, problem, `${req.method} ${req.path}: HTTP ${response.status}`);
    }
  }
}

/** A 202 answer of the fallback queue: `{ queued: true, requestId, id, op }`. */
function isQueued(body: unknown): body is { requestId: string; id: string; op: string } {
  const b = body as Record<string, unknown> | undefined;
  return !!b && b.queued === true && typeof b.requestId === 'string' && typeof b.id === 'string' && typeof b.op === 'string';
}

/** Exponential backoff with jitter: about 100 ms, 200 ms, 400 ms, ... */
function backoff(attempt: number): number {
  const base = 100 * 2 ** (attempt - 1);
  return base / 2 + Math.random() * base;
}
