/** Erasure over the server: an item, a data subject found in an old version, receipts. */

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initChronos, ErasedError, ForbiddenError, NotFoundError } from '../index.js';
import { embeddedWithKeys, newKey, startServer, type Running } from './server.js';

let server: Running;
let writer: string;
let admin: string;

before(async () => {
  const w = newKey('writer', ['*:tenant:tenant-a:write']);
  const a = newKey('admin', ['*:tenant:tenant-a:admin']);
  writer = w.key;
  admin = a.key;
  const base = embeddedWithKeys([w.entry, a.entry]);
  server = await startServer((dataDir) => ({
    ...(base(dataDir) as Record<string, unknown>),
    erasure: { receiptKey: 'typescript-test-receipt-key-0123456789' },
    collectionMaps: { customers: { indexedProps: ['customerId', 'email'], subjectProps: ['customerId', 'email'] } },
  }));
});
after(async () => {
  await server.stop();
});

const customers = { databaseType: 'runtime', tenantId: 'tenant-a', collection: 'customers' } as const;

describe('erasure', () => {
  it('erases an item: every read fails with ErasedError, the receipt verifies', async () => {
    const ops = initChronos({ url: server.url, apiKey: writer }).with(customers);
    const created = await ops.create({ customerId: 'c-1', email: 'ada@example.com' }, 'app', 'signup');
    await ops.update(created.id, { customerId: 'c-1', email: 'ada@new.example' }, 0, 'app', 'moved');
    await assert.rejects(ops.erase(created.id, 'dpo', 'art. 17'), ForbiddenError);

    const chronos = initChronos({ url: server.url, apiKey: admin });
    const report = await chronos.with(customers).erase(created.id, 'dpo', 'art. 17');
    assert.equal(report.ov, 2);
    assert.equal(report.complete, true);
    await assert.rejects(ops.getLatest(created.id), ErasedError);
    await assert.rejects(ops.getVersion(created.id, 0), ErasedError);
    const history = await ops.history(created.id);
    assert.equal(history.versions[0]?.op, 'ERASE');

    const check = await chronos.erasure.verifyReceipt('tenant-a', report.receiptId);
    assert.equal(check.valid, true);
    assert.ok(!JSON.stringify(check).includes(created.id));
    await assert.rejects(chronos.erasure.verifyReceipt('tenant-b', report.receiptId), NotFoundError);
  });

  it('erases a subject that only an old version held', async () => {
    const chronos = initChronos({ url: server.url, apiKey: admin });
    const ops = chronos.with(customers);
    const moved = await ops.create({ customerId: 'c-7' }, 'app', '');
    await ops.update(moved.id, { customerId: 'c-8' }, 0, 'app', '');
    const kept = await ops.create({ customerId: 'c-9' }, 'app', '');

    const plan = await chronos.erasure.eraseSubject('tenant-a', 'c-7', { actor: 'dpo', dryRun: true });
    assert.equal(plan.items, 1);
    assert.ok(await ops.getLatest(moved.id));
    const done = await chronos.erasure.eraseSubject('tenant-a', 'c-7', { actor: 'dpo', reason: 'request 9' });
    const [found] = done.collections;
    assert.ok(found);
    assert.deepEqual(found.ids, [moved.id]);
    await assert.rejects(ops.getLatest(moved.id), ErasedError);
    assert.ok(await ops.getLatest(kept.id));
    const [receipt] = found.receiptIds;
    assert.ok(receipt);
    assert.equal((await chronos.erasure.verifyReceipt('tenant-a', receipt)).valid, true);
  });
});
