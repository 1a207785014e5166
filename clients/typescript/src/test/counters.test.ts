/** `chronos.counters`: the v2.2 analytics example over the server, pages of distinct values, a reset. */

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initChronos, NotFoundError, ValidationError, ForbiddenError } from '../index.js';
import { embeddedWithKeys, newKey, startServer, type Running } from './server.js';

let server: Running;
let writer: string;
let admin: string;

before(async () => {
  const w = newKey('writer', ['runtime:tenant:tenant-a:write']);
  const a = newKey('admin', ['runtime:tenant:tenant-a:admin']);
  writer = w.key;
  admin = a.key;
  const base = embeddedWithKeys([w.entry, a.entry]);
  server = await startServer((dataDir) => ({
    ...(base(dataDir) as Record<string, unknown>),
    counterRules: {
      rules: [{ name: 'user_logins', on: ['CREATE'], when: { action: 'login' }, countUnique: ['sessionId'] }],
    },
    analytics: {
      tenants: ['tenant-a'],
      timeBasedRules: [{ name: 'logins_per_day', collection: 'events', query: { action: 'login' }, operation: 'count', timeframe: 'daily' }],
      crossTenantRules: [{ name: 'active', collection: 'events', mode: 'boolean', masterTenantId: 'tenant-a', slaveTenantIds: ['tenant-a', 'tenant-z'] }],
    },
  }));
});
after(async () => {
  await server.stop();
});

const events = { databaseType: 'runtime', tenantId: 'tenant-a', collection: 'events' } as const;

describe('counters', () => {
  it('150 logins with 45 distinct sessions', async () => {
    const chronos = initChronos({ url: server.url, apiKey: writer });
    const ops = chronos.with(events);
    for (let i = 0; i < 150; i++) {
      await ops.create({ action: 'login', sessionId: `sess${i % 45}` }, 'app', 'login');
    }
    await ops.create({ action: 'logout' }, 'app', 'logout');

    const totals = await chronos.counters.getTotals({ ...events, includeRules: true });
    assert.equal(totals.created, 151);
    assert.match(totals._id, /^tenant:tenant-a\|db:.+\|coll:events$/);
    assert.equal(totals.rules?.user_logins?.created, 150);
    assert.equal(totals.rules?.user_logins?.unique.sessionId, 45);
    assert.equal(typeof totals.lastAt, 'string');
    const bare = await chronos.counters.getTotals(events);
    assert.equal(bare.rules, undefined);

    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await chronos.counters.getUniqueValues(events, 'user_logins', 'sessionId', { limit: 20, cursor });
      for (const v of page.values) seen.add(JSON.stringify(v));
      cursor = page.next ?? undefined;
    } while (cursor);
    assert.equal(seen.size, 45);

    await assert.rejects(chronos.counters.getTotals({ ...events, rules: ['nope'] }), ValidationError);
    // The v2.2 form names a database: the server routes, so it is refused with what to pass.
    await assert.rejects(
      chronos.counters.getTotals({ dbName: 'chronos_runtime_tenant_a', collection: 'events' } as never),
      (e: unknown) => e instanceof ValidationError && /route/.test(e.message),
    );
    // Another tenant's totals are missing, not forbidden.
    await assert.rejects(chronos.counters.getTotals({ ...events, tenantId: 'tenant-b' }), NotFoundError);
  });

  it('a reset needs an admin key and starts from zero', async () => {
    const chronos = initChronos({ url: server.url, apiKey: writer });
    await assert.rejects(chronos.counters.resetTotals(events, 'app'), ForbiddenError);
    const asAdmin = initChronos({ url: server.url, apiKey: admin });
    const report = await asAdmin.counters.resetTotals(events, 'ops', 'new quarter');
    assert.equal(typeof report.floorCv, 'number');
    assert.equal(typeof report.logId, 'string');
    const totals = await chronos.counters.getTotals({ ...events, includeRules: true });
    assert.equal(totals.created, 0);
    assert.equal(totals.rules?.user_logins?.unique.sessionId, 0);
  });
});

describe('analytics', () => {
  it('runs a tenant\'s rules and reads their results', async () => {
    const asAdmin = initChronos({ url: server.url, apiKey: admin });
    await asAdmin.with(events).create({ action: 'login', sessionId: 'x' }, 'app', 'login');
    const report = await asAdmin.analytics.run('tenant-a');
    assert.equal(report.runs.length, 2);
    assert.ok(report.runs.every((r) => r.status === 'done'));
    const daily = await asAdmin.analytics.getTimeBasedResults('tenant-a', { rule: 'logins_per_day', timeframe: 'daily' });
    // One bucket per UTC day of the logins: two when the logins straddle midnight.
    assert.ok(daily.length >= 1 && daily.length <= 2, JSON.stringify(daily));
    assert.ok(daily.every((d) => (d.value as number) >= 1));
    const cross = await asAdmin.analytics.getCrossTenantResults('tenant-a');
    assert.equal(cross[0]?.value, 1);
    const reader = initChronos({ url: server.url, apiKey: writer });
    await assert.rejects(reader.analytics.run('tenant-a'), ForbiddenError);
    await assert.rejects(reader.analytics.getTimeBasedResults('tenant-b'), NotFoundError);
  });
});
