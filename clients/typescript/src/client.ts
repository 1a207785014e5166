/**
 * The chronos-db v2.2 API over the HTTP server: `initChronos(...)`, `chronos.with(...)` and
 * the operations, each one request (or a read and a request where the v2.2 API lets the
 * expected ov be left out).
 */

import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import { Http, type ConnectionOptions } from './http.js';

/** The pause of `follow()` after an empty answer that did not wait. */
const FOLLOW_PAUSE_MS = 1000;

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
import type {
  ChronosDocument,
  CreateOptions,
  EnrichOptions,
  EntityMapping,
  EraseReport,
  HistoryPage,
  ItemDiff,
  ActorVersionsPage,
  Blame,
  FieldHistoryPage,
  ChangesPage,
  Change,
  ListPage,
  ListQuery,
  ReadOptions,
  ReceiptCheck,
  ResetReport,
  RestoreReport,
  ResultsQuery,
  RunReport,
  RouteContext,
  SubjectErasureOptions,
  SubjectErasureReport,
  TieredOptions,
  TieredResult,
  Totals,
  TotalsQuery,
  WriteOptions,
  UniqueValuesPage,
  WriteResult,
} from './types.js';

/** Attempts of an update or delete without `expectedOv` when other writers keep moving the item. */
const UNLOCKED_ATTEMPTS = 8;

const seg = encodeURIComponent;

function collectionPath(ctx: RouteContext): string {
  if (!ctx || typeof ctx.collection !== 'string') {
    throw new ValidationError('with() needs { databaseType, collection, ... }', 'VALIDATION_ERROR', 0);
  }
  const ty = ctx.databaseType;
  if (ty === 'logs') return `/v1/logs/${seg(ctx.collection)}`;
  const tier = ctx.tier ?? (ctx.tenantId ? 'tenant' : ctx.domain ? 'domain' : 'generic');
  const need = (value: string | undefined, name: string): string => {
    if (!value) {
      throw new ValidationError(`with(): tier '${tier}' needs ${name}`, 'VALIDATION_ERROR', 0);
    }
    return value;
  };
  switch (tier) {
    case 'tenant':
      return `/v1/${seg(ty)}/tenant/${seg(need(ctx.tenantId, 'tenantId'))}/${seg(ctx.collection)}`;
    case 'domain':
      return `/v1/${seg(ty)}/domain/${seg(need(ctx.domain, 'domain'))}/${seg(ctx.collection)}`;
    default:
      return `/v1/${seg(ty)}/generic/${seg(ctx.collection)}`;
  }
}

function readQuery(opts: ReadOptions | undefined): Record<string, string | number | boolean | undefined> {
  return {
    presign: opts?.presign || undefined,
    ttlSeconds: opts?.ttlSeconds,
    fields: opts?.projection?.join(','),
    includeDeleted: opts?.includeDeleted || undefined,
  };
}

/**
 * chronos-db v2.2 sorted on `updatedAt` / `createdAt` as system fields; here they are
 * `_system.updatedAt` (any other key sorts on an indexed property).
 */
function systemSort(sort: Record<string, 1 | -1> | undefined): Record<string, 1 | -1> | undefined {
  if (!sort) return sort;
  const out: Record<string, 1 | -1> = {};
  for (const [key, dir] of Object.entries(sort)) {
    out[key === 'updatedAt' ? '_system.updatedAt' : key] = dir;
  }
  return out;
}

/** `null` for a missing item (what chronos-db v2.2 reads return), other errors thrown. */
async function orNull<T>(call: Promise<T>): Promise<T | null> {
  try {
    return await call;
  } catch (e) {
    if (e instanceof NotFoundError) return null;
    throw e;
  }
}

/** The operations of one collection. */
export class CollectionOps {
  readonly path: string;

  constructor(
    private readonly http: Http,
    readonly context: RouteContext,
  ) {
    this.path = collectionPath(context);
  }

  private item(id: string, suffix = ''): string {
    return `${this.path}/items/${seg(id)}${suffix}`;
  }

  /** Creates an item (ov 0). Returns `{ id, ov, cv, at, createdAt }`. */
  async create(
    data: Record<string, unknown>,
    actor = '',
    reason = '',
    opts: CreateOptions = {},
  ): Promise<WriteResult & { createdAt: string }> {
    const written = await this.http.send<WriteResult>({
      method: 'POST',
      path: `${this.path}/items`,
      body: { data, actor, reason, id: opts.id, parent: opts.parent ?? opts.parentRecord, origin: opts.origin },
      idempotent: false,
      requestId: opts.requestId,
    });
    return { ...written, createdAt: written.at };
  }

  /**
   * Replaces an item's content. With `expectedOv` it fails with `ConflictError` when the item
   * moved on; without it, the item's current version is replaced whatever it is.
   */
  async update(
    id: string,
    data: Record<string, unknown>,
    expectedOv?: number,
    actor = '',
    reason = '',
    opts: WriteOptions = {},
  ): Promise<WriteResult & { updatedAt: string }> {
    const written = await this.withOv(id, expectedOv, (ov) =>
      this.http.send<WriteResult>({
        method: 'PUT',
        path: this.item(id),
        body: { data, expectedOv: ov, actor, reason },
        idempotent: false,
        requestId: opts.requestId,
      }),
    );
    return { ...written, updatedAt: written.at };
  }

  /** Deletes an item (a deletion version; the history stays). */
  async delete(
    id: string,
    expectedOv?: number,
    actor = '',
    reason = '',
    opts: WriteOptions = {},
  ): Promise<WriteResult & { deletedAt: string }> {
    const written = await this.withOv(id, expectedOv, (ov) =>
      this.http.send<WriteResult>({
        method: 'DELETE',
        path: this.item(id),
        query: { expectedOv: ov, actor, reason },
        idempotent: false,
        requestId: opts.requestId,
      }),
    );
    return { ...written, deletedAt: written.at };
  }

  /** Runs a write at `expectedOv`, or (without one) at the item's current ov, again if it moved. */
  private async withOv(id: string, expectedOv: number | undefined, write: (ov: number) => Promise<WriteResult>): Promise<WriteResult> {
    if (expectedOv !== undefined) return write(expectedOv);
    const head = await this.getLatest(id);
    if (!head) throw new NotFoundError(`not found: item '${id}'`, 'NOT_FOUND', 404);
    let ov = head._system.ov;
    for (let attempt = 1; ; attempt++) {
      try {
        return await write(ov);
      } catch (e) {
        if (e instanceof ConflictError && e.currentOv !== undefined && attempt < UNLOCKED_ATTEMPTS) {
          ov = e.currentOv;
          continue;
        }
        throw e;
      }
    }
  }

  /** Deep-merges one patch or several into an item (arrays unioned; `functionId` recorded). */
  async enrich(
    id: string,
    patch: Record<string, unknown> | Array<Record<string, unknown>>,
    opts: EnrichOptions = {},
  ): Promise<WriteResult & { updatedAt: string }> {
    const written = await this.http.send<WriteResult>({
      method: 'POST',
      path: this.item(id, '/enrich'),
      body: {
        patch,
        functionId: opts.functionId,
        expectedOv: opts.expectedOv,
        actor: opts.actor ?? '',
        reason: opts.reason ?? '',
      },
      idempotent: false,
      requestId: opts.requestId,
    });
    return { ...written, updatedAt: written.at };
  }

  /** The latest version, or `null` when the item does not exist or is deleted. */
  getLatest(id: string, opts?: ReadOptions): Promise<ChronosDocument | null> {
    return orNull(this.http.send<ChronosDocument>({ method: 'GET', path: this.item(id), query: readQuery(opts), idempotent: true }));
  }

  /** The version `ov`, or `null`. */
  getVersion(id: string, ov: number, opts?: ReadOptions): Promise<ChronosDocument | null> {
    return orNull(
      this.http.send<ChronosDocument>({ method: 'GET', path: this.item(id), query: { ...readQuery(opts), ov }, idempotent: true }),
    );
  }

  /**
   * The version current at `isoTime` (RFC 3339, microseconds kept; a `Date` has only
   * milliseconds), or `null`.
   */
  getAsOf(id: string, isoTime: string | Date, opts?: ReadOptions): Promise<ChronosDocument | null> {
    return orNull(
      this.http.send<ChronosDocument>({
        method: 'GET',
        path: this.item(id),
        query: { ...readQuery(opts), at: isoTime instanceof Date ? isoTime.toISOString() : isoTime },
        idempotent: true,
      }),
    );
  }

  /** A page of items matching a filter on indexed properties; continue with `cursor: page.nextCursor`. */
  async listByMeta(query: ListQuery = {}, opts?: ReadOptions): Promise<ListPage> {
    if (query.afterId !== undefined) {
      throw new ValidationError(
        'afterId is not supported: pass the previous page\'s nextCursor as cursor',
        'VALIDATION_ERROR',
        0,
      );
    }
    return this.http.send<ListPage>({
      method: 'POST',
      path: `${this.path}/query`,
      body: {
        filter: query.filter,
        sort: systemSort(query.sort),
        limit: query.limit,
        cursor: query.cursor,
        asOf: query.asOf,
        asOfCv: query.asOfCv,
        includeDeleted: query.includeDeleted,
        fields: opts?.projection,
        presign: opts?.presign,
        ttlSeconds: opts?.ttlSeconds,
      },
      idempotent: true,
    });
  }

  /**
   * The item's versions, newest first; continue with `beforeOv: page.nextBeforeOv`.
   * `storedSizes: true` adds each version's `storedSize` (as stored: compressed, encrypted).
   */
  history(id: string, opts: { limit?: number; beforeOv?: number; storedSizes?: boolean } = {}): Promise<HistoryPage> {
    return this.http.send<HistoryPage>({
      method: 'GET',
      path: this.item(id, '/versions'),
      query: { limit: opts.limit, beforeOv: opts.beforeOv, storedSizes: opts.storedSizes },
      idempotent: true,
    });
  }

  /**
   * What changed in the item between two versions, each an ov, an RFC 3339 time (the version
   * current then) or `'latest'` (the default for `to`): an RFC 6902 JSON Patch from `from`'s
   * content to `to`'s and the paths it adds, removes and changes (arrays compared position
   * by position).
   */
  diff(id: string, from: number | string, to: number | string = 'latest'): Promise<ItemDiff> {
    return this.http.send<ItemDiff>({
      method: 'GET',
      path: this.item(id, '/diff'),
      query: { from: String(from), to: String(to) },
      idempotent: true,
    });
  }

  /**
   * The change feed: the collection's committed versions in cv order after `sinceCv`,
   * never skipping one that commits late. Pass `page.nextSinceCv` back to continue; `wait`
   * (seconds, at most 60) makes an empty answer wait for a change (long poll). `include`:
   * `'none'` (default), `'after'` or `'beforeAfter'`. `signal` stops the call, a waiting one
   * included (it then rejects with the signal's reason).
   */
  changes(
    opts: {
      sinceCv?: number;
      limit?: number;
      ops?: string[];
      include?: 'none' | 'after' | 'beforeAfter';
      wait?: number;
      signal?: AbortSignal;
    } = {},
  ): Promise<ChangesPage> {
    return this.http.send<ChangesPage>({
      method: 'GET',
      path: `${this.path}/changes`,
      query: {
        sinceCv: opts.sinceCv,
        limit: opts.limit,
        ops: opts.ops?.join(','),
        include: opts.include,
        wait: opts.wait === undefined ? undefined : `${opts.wait}s`,
      },
      idempotent: true,
      signal: opts.signal,
    });
  }

  /**
   * Follows the change feed from `sinceCv`: yields every change as it commits, in cv order,
   * exactly once (long polls of `wait` seconds, default 20, while nothing is ready). Stop
   * with `break`, or with `signal` (which also ends a long poll in flight: the loop ends
   * without an error). A server whose waiting places are all taken answers a
   * long poll at once: an empty answer that came back quickly is followed by a pause of a
   * second, not by the next poll.
   */
  async *follow(
    opts: { sinceCv?: number; ops?: string[]; include?: 'none' | 'after' | 'beforeAfter'; wait?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<Change> {
    let sinceCv = opts.sinceCv ?? 0;
    while (!opts.signal?.aborted) {
      const asked = Date.now();
      let page: ChangesPage;
      try {
        page = await this.changes({ sinceCv, ops: opts.ops, include: opts.include, wait: opts.wait ?? 20, signal: opts.signal });
      } catch (error) {
        if (opts.signal?.aborted) return;
        throw error;
      }
      for (const change of page.changes) {
        yield change;
      }
      sinceCv = page.nextSinceCv;
      const quick = Date.now() - asked < FOLLOW_PAUSE_MS;
      if (page.changes.length === 0 && !page.more && quick) {
        await pause(FOLLOW_PAUSE_MS, opts.signal);
      }
    }
  }

  /**
   * For every leaf of the item's content (a JSON Pointer): the version that set its current
   * value, who wrote it and when. `at` names the version blamed: an ov, an ISO time or
   * `'latest'` (the default).
   */
  blame(id: string, at: number | string = 'latest'): Promise<Blame> {
    return this.http.send<Blame>({
      method: 'GET',
      path: this.item(id, '/blame'),
      query: { at: String(at) },
      idempotent: true,
    });
  }

  /**
   * The values one path (a JSON Pointer or a dot path) of the item took, newest first: each
   * version that set, changed or removed it. Continue with `beforeOv: page.nextBeforeOv`.
   */
  fieldHistory(id: string, path: string, opts: { limit?: number; beforeOv?: number } = {}): Promise<FieldHistoryPage> {
    return this.http.send<FieldHistoryPage>({
      method: 'GET',
      path: this.item(id, '/field-history'),
      query: { path, limit: opts.limit, beforeOv: opts.beforeOv },
      idempotent: true,
    });
  }

  /**
   * Every version `actor` wrote in the collection, newest first (commit time, then cv), in
   * pages: continue with `cursor: page.nextCursor`. `from` / `to` (ISO times) bound the
   * commit times.
   */
  versionsByActor(
    actor: string,
    opts: { from?: string; to?: string; limit?: number; cursor?: string } = {},
  ): Promise<ActorVersionsPage> {
    return this.http.send<ActorVersionsPage>({
      method: 'GET',
      path: `${this.path}/versions`,
      query: { actor, from: opts.from, to: opts.to, limit: opts.limit, cursor: opts.cursor },
      idempotent: true,
    });
  }

  /** Appends a version with the content of version `ov`, or of the version current at `at`. */
  restoreObject(
    id: string,
    target: { ov: number } | { at: string },
    actor = '',
    reason = '',
    opts: WriteOptions = {},
  ): Promise<WriteResult> {
    return this.http.send<WriteResult>({
      method: 'POST',
      path: this.item(id, '/restore'),
      body: { ...target, actor, reason },
      idempotent: false,
      requestId: opts.requestId,
    });
  }

  /**
   * Erases an item (needs an admin key): its content leaves every version, an `ERASE`
   * tombstone stays, and every later read of it fails with `ErasedError`. The server writes
   * a signed receipt; calling this again completes an interrupted erasure.
   */
  erase(id: string, actor: string, reason = ''): Promise<EraseReport> {
    return this.http.send<EraseReport>({
      method: 'POST',
      path: this.item(id, '/erase'),
      body: { actor, reason },
      idempotent: true,
    });
  }

  /** Brings every item back to its state at a collection version or a time (needs an admin key). */
  restoreCollection(
    target: { cv: number } | { at: string },
    opts: { dryRun?: boolean; resumeAfter?: string; actor?: string; reason?: string } = {},
  ): Promise<RestoreReport> {
    return this.http.send<RestoreReport>({
      method: 'POST',
      path: `${this.path}/restore`,
      body: {
        ...target,
        dryRun: opts.dryRun ?? false,
        resumeAfter: opts.resumeAfter,
        actor: opts.actor ?? '',
        reason: opts.reason ?? '',
      },
      idempotent: false,
    });
  }

  /** Saves the objects under the mapped properties as entities, then creates the record. */
  async insertWithEntities(
    record: Record<string, unknown>,
    mappings: EntityMapping[],
    actor = '',
    reason = '',
  ): Promise<{
    mainRecordId: string;
    mainRecord: WriteResult;
    entityResults: Map<string, { id: string; operation: 'created' | 'updated' | 'unchanged' }>;
  }> {
    const done = await this.http.send<{
      mainRecord: WriteResult;
      entityResults: Array<{ property: string; id: string; operation: 'created' | 'updated' | 'unchanged' }>;
    }>({
      method: 'POST',
      path: `${this.path}/items`,
      body: { data: record, actor, reason, entities: mappings },
      idempotent: false,
    });
    return {
      mainRecordId: done.mainRecord.id,
      mainRecord: done.mainRecord,
      entityResults: new Map(done.entityResults.map((r) => [r.property, { id: r.id, operation: r.operation }])),
    };
  }

  /** The record and, per mapping, its entity (`null` when absent). */
  async getWithEntities(
    id: string,
    mappings: EntityMapping[],
    opts?: ReadOptions,
  ): Promise<{ mainRecord: ChronosDocument | null; entityRecords: Map<string, ChronosDocument | null> }> {
    const found = await orNull(
      this.http.send<{ mainRecord: ChronosDocument; entityRecords: Record<string, ChronosDocument | null> }>({
        method: 'GET',
        path: this.item(id),
        query: { ...readQuery(opts), entities: JSON.stringify(mappings) },
        idempotent: true,
      }),
    );
    if (!found) return { mainRecord: null, entityRecords: new Map() };
    return { mainRecord: found.mainRecord, entityRecords: new Map(Object.entries(found.entityRecords)) };
  }
}

/**
 * Real-time counters of a collection (`chronos.counters`). The collection is named by its
 * route, as in `chronos.with(...)`: the server decides which database holds it, so the v2.2
 * form `{ dbName, collection }` is refused with a ValidationError saying what to pass.
 */
export class Counters {
  constructor(private readonly http: Http) {}

  private path(ctx: RouteContext & { dbName?: unknown }): string {
    if (ctx && 'dbName' in ctx) {
      throw new ValidationError(
        'counters: name the collection by its route ({ databaseType, tenantId | domain, collection }), not by dbName: the server routes it',
        'VALIDATION_ERROR',
        0,
      );
    }
    return `${collectionPath(ctx)}/counters`;
  }

  /**
   * Totals in the v2.2 shape: `{ _id, created, updated, deleted, enriched, restored, lastAt,
   * rules?: { name: { created, ..., unique: { property: count } } } }`.
   */
  async getTotals(query: TotalsQuery): Promise<Totals> {
    return this.http.send<Totals>({
      method: 'GET',
      path: this.path(query),
      query: {
        includeRules: query.includeRules || undefined,
        rules: query.rules?.join(','),
      },
      idempotent: true,
    });
  }

  /** A page of the distinct values `rule` counted for `property` (pass `next` back as `cursor`). */
  async getUniqueValues(
    ctx: RouteContext,
    rule: string,
    property: string,
    opts: { limit?: number; cursor?: string } = {},
  ): Promise<UniqueValuesPage> {
    return this.http.send<UniqueValuesPage>({
      method: 'GET',
      path: `${this.path(ctx)}/unique`,
      query: { rule, property, limit: opts.limit, cursor: opts.cursor },
      idempotent: true,
    });
  }

  /** Starts the collection's counts again from zero (needs an admin key; logged by the server). */
  async resetTotals(ctx: RouteContext, actor: string, reason = ''): Promise<ResetReport> {
    return this.http.send<ResetReport>({
      method: 'POST',
      path: `${this.path(ctx)}/reset`,
      body: { actor, reason },
      idempotent: false,
    });
  }
}

/**
 * Time-based and cross-tenant analytics rules (`chronos.analytics`): run a tenant's rules,
 * read their stored results (the v2.2 `AdvancedAnalytics` results, computed by the server).
 */
export class Analytics {
  constructor(private readonly http: Http) {}

  /** Runs the tenant's time-based rules and the cross-tenant rules it is master of (admin key). */
  async run(tenantId: string, rule?: string): Promise<RunReport> {
    return this.http.send<RunReport>({
      method: 'POST',
      path: `/v1/analytics/${seg(tenantId)}/run`,
      body: { rule },
      idempotent: true,
    });
  }

  /** The tenant's time-based results, newest bucket first. */
  async getTimeBasedResults(tenantId: string, query: ResultsQuery = {}): Promise<Record<string, unknown>[]> {
    return this.results(tenantId, 'time-based', query);
  }

  /** The results of the cross-tenant rules the tenant is master of, newest run first. */
  async getCrossTenantResults(masterTenantId: string, query: ResultsQuery = {}): Promise<Record<string, unknown>[]> {
    return this.results(masterTenantId, 'cross-tenant', query);
  }

  private async results(tenantId: string, kind: string, q: ResultsQuery): Promise<Record<string, unknown>[]> {
    const page = await this.http.send<{ results: Record<string, unknown>[] }>({
      method: 'GET',
      path: `/v1/analytics/${seg(tenantId)}/${kind}`,
      query: { rule: q.rule, collection: q.collection, timeframe: q.timeframe, from: q.from, to: q.to, limit: q.limit },
      idempotent: true,
    });
    return page.results;
  }
}

/**
 * Erasure of a tenant's data subject and its receipts (`chronos.erasure`); one item is
 * erased with `chronos.with(route).erase(id, actor, reason)`.
 */
export class Erasure {
  constructor(private readonly http: Http) {}

  /**
   * Erases every item of the tenant whose any version held `value` in one of its collection's
   * `subjectProps` (admin key on every database searched). `dryRun` only lists them.
   */
  async eraseSubject(tenantId: string, value: string | number | boolean, opts: SubjectErasureOptions): Promise<SubjectErasureReport> {
    return this.http.send<SubjectErasureReport>({
      method: 'POST',
      path: `/v1/erasure/${seg(tenantId)}/subject`,
      body: {
        value,
        actor: opts.actor,
        reason: opts.reason ?? '',
        dryRun: opts.dryRun ?? false,
        includeGeneric: opts.includeGeneric ?? false,
        domains: opts.domains ?? [],
      },
      idempotent: true,
    });
  }

  /** Checks one of the tenant's receipts: `valid`, or `problem` saying why not. */
  async verifyReceipt(tenantId: string, receiptId: string): Promise<ReceiptCheck> {
    return this.http.send<ReceiptCheck>({
      method: 'GET',
      path: `/v1/erasure/${seg(tenantId)}/receipts/${seg(receiptId)}`,
      idempotent: true,
    });
  }
}

/** A connection to a Chronos-DB server. */
export class Chronos {
  private readonly http: Http;
  /** Real-time counters (`chronos.counters.getTotals(...)`). */
  readonly counters: Counters;
  /** Time-based and cross-tenant analytics rules. */
  readonly analytics: Analytics;
  /** Subject erasure and erasure receipts. */
  readonly erasure: Erasure;

  constructor(options: ConnectionOptions) {
    this.http = new Http(options);
    this.counters = new Counters(this.http);
    this.analytics = new Analytics(this.http);
    this.erasure = new Erasure(this.http);
  }

  /** The operations of one collection. */
  with(context: RouteContext): CollectionOps {
    return new CollectionOps(this.http, context);
  }

  /** A knowledge record from the tenant, domain and generic tiers (the most specific, or merged). */
  getKnowledge(collection: string, filter: Record<string, unknown>, opts: TieredOptions = {}): Promise<TieredResult> {
    return this.tiered('knowledge', collection, filter, opts);
  }

  /** `getKnowledge` over the metadata databases. */
  getMetadata(collection: string, filter: Record<string, unknown>, opts: TieredOptions = {}): Promise<TieredResult> {
    return this.tiered('metadata', collection, filter, opts);
  }

  private tiered(
    type: 'knowledge' | 'metadata',
    collection: string,
    filter: Record<string, unknown>,
    opts: TieredOptions,
  ): Promise<TieredResult> {
    return this.http.send<TieredResult>({
      method: 'POST',
      path: `/v1/${type}/fetch`,
      body: {
        collection,
        filter,
        tenantId: opts.tenantId,
        domain: opts.domain,
        merge: opts.merge ?? false,
        mergeOptions: opts.mergeOptions,
        includeDeleted: opts.includeDeleted ?? false,
      },
      idempotent: true,
    });
  }
}

/** Connects to a Chronos-DB server (`chronos serve`). */
export function initChronos(options: ConnectionOptions): Chronos {
  return new Chronos(options);
}
