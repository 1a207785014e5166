// The call sites of the chronos-db v2.2 README, unchanged apart from the set-up.
// Type-checked (strict) by `npm run typecheck`; the same calls run against a real server in
// src/test/v2-readme-examples.test.ts. In an application that installed the package, call
// `main()` with CHRONOS_URL pointing at `chronos serve`.

import { initChronos, ConflictError } from '@chronos-db/client';

// Set-up: the server's URL (and an API key) instead of database and bucket settings.
const chronos = initChronos({ url: process.env.CHRONOS_URL ?? 'http://127.0.0.1:7070', apiKey: process.env.CHRONOS_KEY });

const ops = chronos.with({
  databaseType: 'runtime',
  tier: 'tenant',
  tenantId: 'tenant-a',
  collection: 'users',
});

export async function main(): Promise<void> {
  const created = await ops.create({ email: 'user@example.com', status: 'active' }, 'actor', 'reason');
  const current = await ops.getLatest(created.id);
  if (!current) throw new Error('just created');
  const updated = await ops.update(created.id, { email: 'user@example.com', status: 'vip' }, current._system.ov, 'user', 'name-update');

  await ops.enrich(created.id, { tags: ['premium'], metadata: { newField: 'value' } }, {
    functionId: 'enricher@v1',
    actor: 'system',
    reason: 'automated enrichment',
  });
  await ops.enrich(created.id, [{ tags: ['vip'] }, { metadata: { score: 100 } }, { tags: ['verified'] }]);

  const latest = await ops.getLatest(created.id, { presign: true, ttlSeconds: 3600, projection: ['email', 'status'] });
  const v1 = await ops.getVersion(created.id, 1);
  const historical = await ops.getAsOf(created.id, '2024-01-01T00:00:00Z');
  const results = await ops.listByMeta({ filter: { status: 'active' }, limit: 50, sort: { updatedAt: -1 } }, { presign: true });

  await ops.restoreObject(created.id, { ov: 0 });
  await ops.restoreObject(created.id, { at: '2024-01-01T00:00:00Z' });
  await ops.restoreCollection({ cv: 100 }, { dryRun: true });

  const config = await chronos.getKnowledge('app-config', { key: 'feature-flags' }, { tenantId: 'tenant-a', domain: 'production', merge: false });
  const mergedConfig = await chronos.getKnowledge('app-config', { key: 'feature-flags' }, {
    tenantId: 'tenant-a',
    domain: 'production',
    merge: true,
    mergeOptions: { dedupeArrays: true },
  });
  const schema = await chronos.getMetadata('schemas', { entityType: 'user' }, { tenantId: 'tenant-a', domain: 'saas', merge: true });

  const orders = chronos.with({ databaseType: 'runtime', tier: 'tenant', tenantId: 'tenant-a', collection: 'orders' });
  const entityMappings = [
    { property: 'customer', collection: 'customers', keyProperty: 'customerId', databaseType: 'runtime' as const, tier: 'tenant' as const },
  ];
  const result = await orders.insertWithEntities({ orderId: 'ORD-123', customer: { customerId: 'CUST-456', name: 'John Doe' } }, entityMappings, 'order-system', 'new order created');
  const withEntities = await orders.getWithEntities(result.mainRecordId, entityMappings, { presign: true });

  const metrics = await chronos.counters.getTotals({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'events', includeRules: true });
  console.log(metrics.created, metrics.rules?.user_logins?.unique.sessionId);

  try {
    await ops.update(created.id, { email: 'x' }, 0);
  } catch (e) {
    if (e instanceof ConflictError) console.log('someone else wrote ov', e.currentOv);
  }

  console.log(updated.ov, latest?._system.ov, v1?._id, historical, results.items.length, config.tiersFound, mergedConfig.data, schema.tiersFound, withEntities.entityRecords.get('customer'));
}
