/**
 * `@chronos-db/client`: the chronos-db v2.2 API (`initChronos`, `chronos.with`, `create`,
 * `getLatest`, `listByMeta`, ...) over a Chronos-DB server.
 *
 * ```ts
 * import { initChronos } from '@chronos-db/client';
 * const chronos = initChronos({ url: 'http://127.0.0.1:7070', apiKey: process.env.CHRONOS_KEY });
 * const users = chronos.with({ databaseType: 'runtime', tier: 'tenant', tenantId: 'tenant-a', collection: 'users' });
 * const { id } = await users.create({ email: 'ada@example.com' }, 'signup', 'new user');
 * ```
 */

export { initChronos, Analytics, Chronos, CollectionOps, Counters, Erasure } from './client.js';
export type { ConnectionOptions } from './http.js';
export {
  ChronosError,
  ConflictError,
  NotFoundError,
  ValidationError,
  UnauthorizedError,
  ForbiddenError,
  DeletedError,
  ErasedError,
  BackendUnavailableError,
  QueuedError,
  type Problem,
} from './errors.js';
export type * from './types.js';
