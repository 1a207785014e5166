/** Idempotency keys and the fallback queue, against a real `chronos serve`. */

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initChronos, QueuedError } from '../index.js';
import { startServer, type Running } from './server.js';

const route = { databaseType: 'runtime', tenantId: 'tenant-a', collection: 'orders' } as const;

describe('request ids', () => {
  let server: Running;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  it('a repeated write returns its first outcome and writes once', async () => {
    const orders = initChronos({ url: server.url }).with(route);
    const first = await orders.create({ total: 5 }, 'shop', 'checkout', { requestId: 'order-17' });
    const again = await orders.create({ total: 5 }, 'shop', 'checkout', { requestId: 'order-17' });
    assert.deepEqual(again, first);
    const up = await orders.update(first.id, { total: 6 }, 0, 'shop', 'fix', { requestId: 'order-17-fix' });
    const upAgain = await orders.update(first.id, { total: 6 }, 0, 'shop', 'fix', { requestId: 'order-17-fix' });
    assert.equal(up.ov, 1);
    assert.deepEqual(upAgain, up);
    const history = await orders.history(first.id);
    assert.equal(history.versions.length, 2);
    await assert.rejects(orders.create({ total: 1 }, 'a', 'r', { requestId: 'has space' }), (e: unknown) => {
      return e instanceof Error && (e as { code?: string }).code === 'VALIDATION_ERROR';
    });
  });
});

describe('the fallback queue', () => {
  let server: Running;
  before(async () => {
    // Object storage at a port where nothing listens: every write is queued.
    server = await startServer((dataDir) => ({
      dbConnections: { m: { sqliteDir: join(dataDir, 'meta') } },
      spacesConnections: {
        s: { provider: 's3', endpoint: 'http://127.0.0.1:1', region: 'us-east-1', accessKey: 'k', secretKey: 's', maxRetries: 0, timeoutMs: 2000 },
      },
      databases: {
        runtime: { tenantTemplate: { dbConnRef: 'm', spaceConnRef: 's', bucket: 'chronos-queued', dbName: 'rt_{tenantId}', prefix: '{tenantId}' } },
      },
      fallback: { enabled: true, queueDir: join(dataDir, 'queue') },
    }));
  });
  after(async () => {
    await server.stop();
  });

  it('a write the queue takes is a QueuedError, never a success', async () => {
    const orders = initChronos({ url: server.url }).with(route);
    let queued: QueuedError | undefined;
    await assert.rejects(orders.create({ total: 1 }, 'a', 'r', { id: 'o-1' }), (e: unknown) => {
      assert.ok(e instanceof QueuedError);
      assert.equal(e.status, 202);
      assert.equal(e.code, 'QUEUED');
      assert.equal(e.id, 'o-1');
      assert.equal(e.op, 'create');
      queued = e;
      return true;
    });
    // The same request again: still that queued write.
    await assert.rejects(orders.create({ total: 1 }, 'a', 'r', { id: 'o-1', requestId: queued!.requestId }), (e: unknown) => {
      return e instanceof QueuedError && e.requestId === queued!.requestId;
    });
    // Later writes to the item wait behind it.
    await assert.rejects(orders.update('o-1', { total: 2 }, 0), (e: unknown) => e instanceof QueuedError && e.op === 'update');
  });
});
