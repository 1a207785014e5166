/**
 * The chronos-db v2.2 README's own examples, through the client, against a real server.
 * Only the set-up differs: `initChronos({ url })` instead of database and bucket settings.
 */

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initChronos, ConflictError, DeletedError, type Chronos } from '../index.js';
import { startServer, type Running } from './server.js';

let server: Running;
let chronos: Chronos;

before(async () => {
  server = await startServer();
  chronos = initChronos({ url: server.url });
});
after(async () => {
  await server.stop();
});

describe('CRUD with optimistic locking', () => {
  it('creates, reads, updates, refuses a stale ov, deletes', async () => {
    const ops = chronos.with({ databaseType: 'runtime', tier: 'tenant', tenantId: 'tenant-a', collection: 'users' });
    const created = await ops.create({ email: 'ada@example.com', status: 'active' }, 'actor', 'reason');
    assert.equal(created.ov, 0);
    assert.equal(typeof created.id, 'string');
    assert.equal(created.createdAt, created.at);

    const current = await ops.getLatest(created.id);
    assert.ok(current);
    assert.equal(current._system.ov, 0);
    assert.equal(current.email, 'ada@example.com');

    const updated = await ops.update(created.id, { email: 'ada@lovelace.dev', status: 'active' }, current._system.ov, 'user', 'name-update');
    assert.equal(updated.ov, 1);
    assert.equal(updated.updatedAt, updated.at);

    await assert.rejects(ops.update(created.id, { email: 'x' }, 0, 'late', 'stale'), (e: unknown) => {
      assert.ok(e instanceof ConflictError);
      assert.equal(e.currentOv, 1);
      assert.equal(e.status, 409);
      assert.equal(e.code, 'CONFLICT');
      return true;
    });
    // Without an expected ov the current version is replaced.
    const unlocked = await ops.update(created.id, { email: 'ada@lovelace.dev', status: 'vip' });
    assert.equal(unlocked.ov, 2);

    const deleted = await ops.delete(created.id, 2, 'gdpr-request', 'user-data-deletion');
    assert.equal(deleted.ov, 3);
    assert.equal(deleted.deletedAt, deleted.at);
    assert.equal(await ops.getLatest(created.id), null);
    const tomb = await ops.getLatest(created.id, { includeDeleted: true });
    assert.equal(tomb?._system.deleted, true);
    await assert.rejects(ops.update(created.id, { email: 'y' }, 3), DeletedError);
  });
});

describe('enrichment', () => {
  it('deep-merges with array union and records functionIds', async () => {
    const ops = chronos.with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'profiles' });
    const { id } = await ops.create({ tags: ['new'], metadata: { source: 'signup' } }, 'app', 'signup');
    await ops.enrich(id, { tags: ['premium'], metadata: { newField: 'value' } }, {
      functionId: 'enricher@v1',
      actor: 'system',
      reason: 'automated enrichment',
    });
    await ops.enrich(id, [{ tags: ['vip'] }, { metadata: { score: 100 } }, { tags: ['verified'] }]);
    const doc = await ops.getLatest(id);
    assert.ok(doc);
    assert.deepEqual(doc.tags, ['new', 'premium', 'vip', 'verified']);
    assert.deepEqual(doc.metadata, { source: 'signup', newField: 'value', score: 100 });
    assert.deepEqual(doc._system.functionIds, ['enricher@v1']);
    assert.equal(doc._system.ov, 2);
  });
});

describe('reads: versions, time travel, projection, history', () => {
  it('reads any version and the state at a time', async () => {
    const ops = chronos.with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'records' });
    const { id } = await ops.create({ name: 'v0', status: 'draft' }, 'a', 'r', { id: 'record-id' });
    const v1 = await ops.update(id, { name: 'v1', status: 'live' }, 0);
    await new Promise((ok) => setTimeout(ok, 5));
    await ops.update(id, { name: 'v2', status: 'live' }, 1);
    assert.equal((await ops.getVersion(id, 1))?.name, 'v1');
    assert.equal((await ops.getAsOf(id, v1.at))?._system.ov, 1);
    assert.equal(await ops.getVersion(id, 9), null);
    const projected = await ops.getLatest(id, { projection: ['status'] });
    assert.deepEqual(Object.keys(projected ?? {}).sort(), ['_id', '_system', 'status']);
    const page = await ops.history(id, { limit: 2 });
    assert.deepEqual(page.versions.map((v) => v.ov), [2, 1]);
    assert.equal(page.nextBeforeOv, 1);
    const rest = await ops.history(id, { beforeOv: page.nextBeforeOv ?? undefined });
    assert.deepEqual(rest.versions.map((v) => v.ov), [0]);
    assert.equal(page.versions[0]?.storedSize, undefined);
    const sized = await ops.history(id, { limit: 1, storedSizes: true });
    // Not compressed here: the stored document is the document.
    assert.equal(sized.versions[0]?.storedSize, sized.versions[0]?.size);
    const signed = await ops.getLatest(id, { presign: true, ttlSeconds: 3600 });
    const url = signed?._presigned?.itemUrl;
    assert.ok(url);
    const body = await (await fetch(url)).json();
    assert.equal(body.name, 'v2');
  });
});

describe('restores', () => {
  it('restores an object by ov and by time, and a collection', async () => {
    const ops = chronos.with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'docs' });
    const a = await ops.create({ n: 0 }, 'a', 'r');
    const cvAfterA = a.cv;
    await ops.update(a.id, { n: 1 }, 0);
    const restored = await ops.restoreObject(a.id, { ov: 0 });
    assert.equal(restored.ov, 2);
    assert.equal((await ops.getLatest(a.id))?.n, 0);
    await ops.restoreObject(a.id, { at: new Date().toISOString() }, 'ops', 'no-op');
    const b = await ops.create({ n: 10 }, 'a', 'r');
    const dry = await ops.restoreCollection({ cv: cvAfterA }, { dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.equal(dry.deleted, 1);
    const report = await ops.restoreCollection({ cv: cvAfterA });
    assert.equal(report.targetCv, cvAfterA);
    assert.equal(await ops.getLatest(b.id), null, 'b did not exist at the target');
  });
});

describe('listByMeta', () => {
  it('filters, sorts and pages with a cursor', async () => {
    const ops = chronos.with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'orders' });
    for (let i = 0; i < 7; i++) {
      await ops.create({ status: i % 2 ? 'active' : 'closed', rank: i }, 'shop', 'order');
    }
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await ops.listByMeta({ filter: { status: 'active' }, limit: 2, sort: { rank: -1 }, cursor });
      seen.push(...page.items.map((d) => d.rank as number));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    assert.deepEqual(seen, [5, 3, 1]);
    // `sort: { updatedAt: -1 }` as in chronos-db v2.2: newest write first.
    const newest = await ops.listByMeta({ filter: { status: 'active' }, limit: 3, sort: { updatedAt: -1 } });
    assert.deepEqual(newest.items.map((d) => d.rank), [5, 3, 1]);
  });
});

describe('lineage', () => {
  it('records parents and external origins', async () => {
    const ops = chronos.with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'items' });
    const child = await ops.create({ name: 'Child Record', data: 'some data' }, 'system', 'child creation', {
      parentRecord: { id: 'parent-record-id', collection: 'parent_items' },
    });
    const c = await ops.getLatest(child.id);
    assert.equal(c?._system.parentId, 'parent-record-id');
    assert.equal(c?._system.originCollection, 'parent_items');
    const imported = await ops.create({ customerId: 'ext-123', name: 'Imported Customer' }, 'system', 'import', {
      origin: { id: 'stripe_cus_123', collection: 'customers', system: 'stripe' },
    });
    const i = await ops.getLatest(imported.id);
    assert.equal(i?._system.originId, 'stripe_cus_123');
    assert.equal(i?._system.originCollection, 'stripe:customers');
  });
});

describe('tiered fetch', () => {
  it('merges generic, domain and tenant as "How Tiered Merging Works" shows', async () => {
    const at = (tier: 'generic' | 'domain' | 'tenant') =>
      chronos.with({ databaseType: 'knowledge', tier, domain: 'production', tenantId: 'tenant-a', collection: 'app-config' });
    await at('generic').create({ key: 'ui', theme: 'light', features: ['basic', 'standard'], settings: { timeout: 30 } }, 'ops', 'seed');
    await at('domain').create({ key: 'ui', features: ['advanced'], settings: { maxRetries: 3 } }, 'ops', 'seed');
    await at('tenant').create({ key: 'ui', theme: 'dark', features: ['premium'], settings: { timeout: 60 } }, 'ops', 'seed');
    const merged = await chronos.getKnowledge('app-config', { key: 'ui' }, {
      tenantId: 'tenant-a',
      domain: 'production',
      merge: true,
      mergeOptions: { dedupeArrays: true },
    });
    assert.deepEqual(merged.tiersFound, ['generic', 'domain', 'tenant']);
    assert.equal(merged.data?.theme, 'dark');
    assert.deepEqual(merged.data?.features, ['basic', 'standard', 'advanced', 'premium']);
    assert.deepEqual(merged.data?.settings, { timeout: 60, maxRetries: 3 });
    assert.equal(merged.tierRecords.generic?.theme, 'light');
    const first = await chronos.getKnowledge('app-config', { key: 'ui' }, { tenantId: 'tenant-a', domain: 'production' });
    assert.deepEqual(first.tiersFound, ['tenant']);
    const schema = await chronos.getMetadata('schemas', { entityType: 'user' }, { tenantId: 'tenant-a', merge: true });
    assert.equal(schema.data, null);
  });
});

describe('entities', () => {
  it('saves embedded objects as entities and reads them back', async () => {
    const ops = chronos.with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'orders' });
    const entityMappings = [
      { property: 'customer', collection: 'customers', keyProperty: 'customerId' },
      { property: 'product', collection: 'products', keyProperty: 'productId' },
    ];
    const order = {
      orderId: 'ORD-123',
      customer: { customerId: 'CUST-456', name: 'John Doe', email: 'john@example.com' },
      product: { productId: 'PROD-789', name: 'Widget', price: 99.99 },
      quantity: 2,
    };
    const result = await ops.insertWithEntities(order, entityMappings, 'order-system', 'new order created');
    assert.equal(result.entityResults.get('customer')?.operation, 'created');
    assert.equal(result.entityResults.get('product')?.id, 'PROD-789');
    const again = await ops.insertWithEntities({ ...order, orderId: 'ORD-124' }, entityMappings, 'order-system', 'repeat');
    assert.equal(again.entityResults.get('product')?.operation, 'unchanged');
    const got = await ops.getWithEntities(result.mainRecordId, entityMappings);
    assert.equal(got.mainRecord?.orderId, 'ORD-123');
    assert.equal(got.entityRecords.get('customer')?.name, 'John Doe');
    assert.equal(got.entityRecords.get('product')?.price, 99.99);
  });
});
