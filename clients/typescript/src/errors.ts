/**
 * Typed errors. Every failed call throws a `ChronosError` carrying the server's stable `code`
 * (`CONFLICT`, `NOT_FOUND`, `VALIDATION_ERROR`, ...), the HTTP `status` and the RFC 9457
 * problem document; the common cases have their own class so callers can `instanceof` them.
 */

/** The problem document the server sends with every error (RFC 9457). */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  code?: string;
  detail?: string;
  path?: string;
  currentOv?: number;
  expectedOv?: number;
  [extension: string]: unknown;
}

/** Any failure of a Chronos-DB call. */
export class ChronosError extends Error {
  /** The server's stable error code, or `NETWORK_ERROR` / `TIMEOUT` for failures before an answer. */
  readonly code: string;
  /** The HTTP status, or 0 when no answer came. */
  readonly status: number;
  /** The problem document, when the server sent one. */
  readonly problem: Problem | undefined;

  constructor(message: string, code: string, status: number, problem?: Problem, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.problem = problem;
  }
}

/** 409: the item is not at the expected ov (`currentOv` says where it is), or the id is taken. */
export class ConflictError extends ChronosError {
  /** The item's current ov (optimistic-lock conflicts). */
  readonly currentOv: number | undefined;
  constructor(message: string, code: string, status: number, problem?: Problem) {
    super(message, code, status, problem);
    this.currentOv = typeof problem?.currentOv === 'number' ? problem.currentOv : undefined;
  }
}

/** 404: no such item or version, or a route outside the API key's scopes. */
export class NotFoundError extends ChronosError {}

/** 400: bad input; `problem.path` names the offending field when there is one. */
export class ValidationError extends ChronosError {}

/** 401: no API key, or not a valid one. */
export class UnauthorizedError extends ChronosError {}

/** 403: the API key may see the route but not do this (a read key writing). */
export class ForbiddenError extends ChronosError {}

/** 410: the item is logically deleted; restore it before writing to it. */
export class DeletedError extends ChronosError {}

/** 410 `ERASED`: the item was erased; none of its versions can be read or restored. */
export class ErasedError extends ChronosError {}

/** 503, or no answer: a backend (or the server) is unavailable; worth retrying later. */
export class BackendUnavailableError extends ChronosError {}

/**
 * 202 `QUEUED`, not a failure: the backend did not answer and the server's fallback queue
 * took the write (`fallback.enabled`). It will commit exactly once when replayed, or go to
 * the dead letters (`chronos queue dead`); reads show the item without it until then. Send
 * the same write again with `requestId` set to `requestId` to learn its outcome.
 */
export class QueuedError extends ChronosError {
  /** The request id the write commits with. */
  readonly requestId: string;
  /** The item it writes (a queued create's id is chosen when it is queued). */
  readonly id: string;
  /** `create`, `update`, `delete`, `enrich` or `restore`. */
  readonly op: string;
  constructor(queued: { requestId: string; id: string; op: string }) {
    super(`the backend did not answer; ${queued.op} of item '${queued.id}' is queued as request '${queued.requestId}'`, 'QUEUED', 202);
    this.requestId = queued.requestId;
    this.id = queued.id;
    this.op = queued.op;
  }
}

/** The error for an HTTP answer. */
export function errorFor(status: number, problem: Problem | undefined, fallback: string): ChronosError {
  const code = problem?.code ?? `HTTP_${status}`;
  const message = problem?.detail ?? fallback;
  switch (status) {
    case 400:
      return new ValidationError(message, code, status, problem);
    case 401:
      return new UnauthorizedError(message, code, status, problem);
    case 403:
      return new ForbiddenError(message, code, status, problem);
    case 404:
      return new NotFoundError(message, code, status, problem);
    case 409:
      return new ConflictError(message, code, status, problem);
    case 410:
      return code === 'ERASED'
        ? new ErasedError(message, code, status, problem)
        : new DeletedError(message, code, status, problem);
    case 503:
      return new BackendUnavailableError(message, code, status, problem);
    default:
      return new ChronosError(message, code, status, problem);
  }
}
