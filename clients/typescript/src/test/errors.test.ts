/** Each failure arrives as its error class, with the server's code and status. */

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  initChronos,
  BackendUnavailableError,
  ChronosError,
  ForbiddenError,
  NotFoundError,
  UnauthorizedError,
  ValidationError,
} from '../index.js';
import { embeddedWithKeys, newKey, startServer, type Running } from './server.js';

let server: Running;
let writer: string;
let reader: string;

before(async () => {
  const w = newKey('writer', ['runtime:tenant:tenant-a:write']);
  const r = newKey('reader', ['runtime:tenant:tenant-a:read']);
  writer = w.key;
  reader = r.key;
  server = await startServer(embeddedWithKeys([w.entry, r.entry]));
});
after(async () => {
  await server.stop();
});

describe('error classes', () => {
  it('validation, not found, unauthorized, forbidden', async () => {
    const ops = initChronos({ url: server.url, apiKey: writer }).with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'c' });
    await assert.rejects(ops.create({ a: 1 }, 'a', 'r', { id: 'bad/id' }), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.ok(e instanceof ChronosError);
      assert.equal(e.status, 400);
      assert.equal(e.code, 'VALIDATION_ERROR');
      return true;
    });
    await assert.rejects(ops.restoreObject('missing', { ov: 0 }), NotFoundError);
    await assert.rejects(ops.listByMeta({ afterId: 'x' }), ValidationError);

    const anonymous = initChronos({ url: server.url }).with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'c' });
    await assert.rejects(anonymous.getLatest('x'), (e: unknown) => e instanceof UnauthorizedError && e.status === 401);
    const wrongKey = initChronos({ url: server.url, apiKey: 'chr_wrong' }).with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'c' });
    await assert.rejects(wrongKey.create({}), UnauthorizedError);

    const readOnly = initChronos({ url: server.url, apiKey: reader }).with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'c' });
    await assert.rejects(readOnly.create({ a: 1 }), (e: unknown) => e instanceof ForbiddenError && e.code === 'FORBIDDEN');
    // Another tenant looks empty, not forbidden.
    const otherTenant = initChronos({ url: server.url, apiKey: writer }).with({ databaseType: 'runtime', tenantId: 'tenant-b', collection: 'c' });
    assert.equal(await otherTenant.getLatest('anything'), null);
    await assert.rejects(otherTenant.create({ a: 1 }), NotFoundError);
  });

  it('a server that does not answer is BackendUnavailableError after retries', async () => {
    const gone = initChronos({ url: 'http://127.0.0.1:9', timeoutMs: 500, maxAttempts: 2 });
    const started = Date.now();
    await assert.rejects(gone.with({ databaseType: 'logs', collection: 'events' }).getLatest('x'), (e: unknown) => {
      assert.ok(e instanceof BackendUnavailableError);
      assert.equal(e.code, 'NETWORK_ERROR');
      assert.equal(e.status, 0);
      return true;
    });
    assert.ok(Date.now() - started >= 50, 'it waited before the second attempt');
    // A write is not retried: it may have been applied.
    await assert.rejects(gone.with({ databaseType: 'logs', collection: 'events' }).create({}), BackendUnavailableError);
  });

  it('a backend that does not answer is a 503, retried for reads, then BackendUnavailableError', async () => {
    const down = await startServer((dataDir) => ({
      dbConnections: { m: { mongoUri: 'mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200', timeoutMs: 200 } },
      spacesConnections: { files: { provider: 'local', basePath: `${dataDir}/objects` } },
      databases: {
        runtime: { tenantTemplate: { dbConnRef: 'm', spaceConnRef: 'files', bucket: 'chronos-runtime', prefix: '{tenantId}', dbName: 'rt_{tenantId}' } },
      },
    }));
    try {
      const ops = initChronos({ url: down.url, maxAttempts: 2 }).with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'c' });
      const started = Date.now();
      await assert.rejects(ops.getLatest('x'), (e: unknown) => {
        assert.ok(e instanceof BackendUnavailableError);
        assert.equal(e.status, 503);
        assert.equal(e.code, 'BACKEND_UNAVAILABLE');
        return true;
      });
      assert.ok(Date.now() - started >= 1000, 'the second attempt waited for Retry-After');
      await assert.rejects(ops.create({ a: 1 }), BackendUnavailableError);
    } finally {
      await down.stop();
    }
  });

  it('initChronos needs a URL, and with() a complete route', () => {
    assert.throws(() => initChronos({ url: 'localhost:7070' }), ChronosError);
    const chronos = initChronos({ url: 'http://127.0.0.1:9' });
    assert.throws(() => chronos.with({ databaseType: 'runtime', tier: 'tenant', collection: 'c' }), ValidationError);
    assert.throws(() => chronos.with({ databaseType: 'knowledge', tier: 'domain', collection: 'c' }), ValidationError);
  });
});
