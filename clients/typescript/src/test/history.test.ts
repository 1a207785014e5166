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

describe('versionsByActor', () => {
  it('pages of what one actor wrote, newest first', async () => {
    const orders = initChronos({ url: server.url, apiKey: writer }).with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'orders' });
    const a = await orders.create({ n: 1 }, 'alice', 'new');
    await orders.update(a.id, { n: 2 }, 0, 'bob', 'check');
    await orders.update(a.id, { n: 3 }, 1, 'alice', 'close');
    await orders.create({ n: 4 }, 'alice', 'new');

    const first = await orders.versionsByActor('alice', { limit: 2 });
    assert.deepEqual(first.versions.map((v) => v.actor), ['alice', 'alice']);
    assert.ok(first.versions[0]!.cv > first.versions[1]!.cv);
    assert.ok(first.nextCursor);
    const rest = await orders.versionsByActor('alice', { cursor: first.nextCursor ?? undefined });
    assert.equal(rest.versions.length, 1);
    assert.equal(rest.versions[0]!.ov, 0);
    assert.equal(rest.nextCursor ?? null, null);
    assert.equal((await orders.versionsByActor('bob')).versions.length, 1);
    await assert.rejects(orders.versionsByActor('bob', { cursor: first.nextCursor ?? undefined }), ValidationError);
    await assert.rejects(orders.versionsByActor('alice', { from: 'yesterday' }), ValidationError);
  });
});

describe('changes', () => {
  it('pages in cv order, and a follower that sees later commits once', async () => {
    const feed = initChronos({ url: server.url, apiKey: writer }).with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'feed' });
    const r = await feed.create({ n: 1 }, 'app', '');
    await feed.update(r.id, { n: 2 }, 0, 'app', '');
    const page = await feed.changes({ include: 'after' });
    assert.deepEqual(page.changes.map((c) => [c.op, c.after]), [['CREATE', { n: 1 }], ['UPDATE', { n: 2 }]]);
    await assert.rejects(feed.changes({ ops: ['TOUCH'] }), ValidationError);

    const seen: number[] = [];
    const controller = new AbortController();
    const following = (async () => {
      for await (const change of feed.follow({ sinceCv: page.nextSinceCv, wait: 5, signal: controller.signal })) {
        seen.push(change.ov);
        if (seen.length === 2) break;
      }
    })();
    await feed.update(r.id, { n: 3 }, 1, 'app', '');
    await feed.update(r.id, { n: 4 }, 2, 'app', '');
    await following;
    controller.abort();
    assert.deepEqual(seen, [2, 3]);
  });
});

describe('stopping follow', () => {
  it('ends a long poll in flight at once, without an error', async () => {
    const feed = initChronos({ url: server.url, apiKey: writer }).with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'quiet' });
    const stop = new AbortController();
    const started = Date.now();
    setTimeout(() => stop.abort(), 300);
    for await (const _change of feed.follow({ wait: 20, signal: stop.signal })) {
      assert.fail('the feed is empty');
    }
    const took = Date.now() - started;
    assert.ok(took < 5000, `stopped after ${took} ms, not at the end of a 20 s poll`);

    // A single waiting call rejects with the signal's reason.
    const once = new AbortController();
    const waiting = feed.changes({ wait: 20, signal: once.signal });
    setTimeout(() => once.abort(new Error('enough')), 200);
    await assert.rejects(waiting, /enough/);
  });
});

describe('follow on a server whose waiting places are taken', () => {
  it('pauses after answers that did not wait instead of polling in a loop', async () => {
    const k = newKey('busy', ['runtime:tenant:tenant-a:read']);
    const config = embeddedWithKeys([k.entry]);
    const busy = await startServer((dataDir) => {
      const c = config(dataDir) as { server: Record<string, unknown> };
      c.server.maxEventStreamsPerKey = 1;
      return c;
    });
    const realFetch = globalThis.fetch;
    const hold = new AbortController();
    try {
      const base = `${busy.url}/v1/runtime/tenant/tenant-a/feed/changes`;
      // The key's one place, taken by an event stream.
      const stream = await realFetch(base, { headers: { authorization: `Bearer ${k.key}`, accept: 'text/event-stream' }, signal: hold.signal });
      assert.equal(stream.status, 200);
      let polls = 0;
      globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
        if (String(input).includes('/changes?')) polls += 1;
        return realFetch(input, init);
      }) as typeof fetch;
      const feed = initChronos({ url: busy.url, apiKey: k.key }).with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'feed' });
      const stop = new AbortController();
      const timer = setTimeout(() => stop.abort(), 2500);
      for await (const _change of feed.follow({ wait: 20, signal: stop.signal })) {
        assert.fail('the feed is empty');
      }
      clearTimeout(timer);
      assert.ok(polls >= 2 && polls <= 5, `about one poll a second, not a loop: ${polls} in 2.5 s`);
    } finally {
      globalThis.fetch = realFetch;
      hold.abort();
      await busy.stop();
    }
  });
});

describe('blame and fieldHistory', () => {
  it('who set each value, and the values a path took', async () => {
    const users = initChronos({ url: server.url, apiKey: writer }).with({ databaseType: 'runtime', tenantId: 'tenant-a', collection: 'profiles' });
    const r = await users.create({ name: 'Ada', plan: 'free' }, 'signup', '');
    await users.update(r.id, { name: 'Ada', plan: 'pro' }, 0, 'billing', '');
    const blame = await users.blame(r.id);
    assert.deepEqual(blame.lines.map((l) => [l.path, l.ov, l.actor]), [['/name', 0, 'signup'], ['/plan', 1, 'billing']]);
    assert.equal((await users.blame(r.id, 0)).lines[1]!.value, 'free');
    const plan = await users.fieldHistory(r.id, 'plan', { limit: 1 });
    assert.deepEqual(plan.changes.map((c) => c.value), ['pro']);
    const rest = await users.fieldHistory(r.id, '/plan', { beforeOv: plan.nextBeforeOv ?? undefined });
    assert.deepEqual(rest.changes.map((c) => [c.ov, c.value]), [[0, 'free']]);
    await assert.rejects(users.fieldHistory(r.id, 'a..b'), ValidationError);
    await assert.rejects(users.blame('missing'), NotFoundError);
  });
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
