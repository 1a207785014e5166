/** History tools over HTTP: `collection.diff` between versions named by ov, time or `latest`. */

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initChronos, NotFoundError, ValidationError } from '../index.js';
import { embeddedWithKeys, newKey, startServer, type Running } from './server.js';

let server: Running;
let writer: string;

before(async () => {
  const w = newKey('writer', ['runtime:tenant:tenant-a:write']);
  writer = w.key;
  server = await startServer(embeddedWithKeys([w.entry]));
});
after(async () => {
  await server.stop();
});

describe('diff', () => {
  it('a JSON Patch between two versions, and its summary', async () => {
    const users = initChronos({ url: server.url, apiKey: writer }).with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'users' });
    const created = await users.create({ name: 'Ada', tags: ['a', 'b'] }, 'app', 'signup');
    const v1 = await users.update(created.id, { name: 'Ada L.', tags: ['a'] }, 0, 'app', 'rename');
    await users.update(created.id, { name: 'Ada L.', tags: ['a'], vip: true }, 1, 'app', 'upgrade');

    const d = await users.diff(created.id, 0, 2);
    assert.equal(d.from.ov, 0);
    assert.equal(d.to.ov, 2);
    assert.deepEqual(d.summary, { added: ['/vip'], removed: ['/tags/1'], changed: ['/name'] });
    assert.deepEqual(d.patch[0], { op: 'replace', path: '/name', value: 'Ada L.' });

    // `to` defaults to the latest version; a time names the version current then.
    const latest = await users.diff(created.id, v1.at);
    assert.equal(latest.from.ov, 1);
    assert.deepEqual(latest.patch, [{ op: 'add', path: '/vip', value: true }]);

    await assert.rejects(users.diff(created.id, 'v1'), ValidationError);
    await assert.rejects(users.diff(created.id, 0, 9), NotFoundError);
    await assert.rejects(users.diff('missing', 0), NotFoundError);
  });
});
