/**
 * Starts the real `chronos serve` (the binary the workspace builds) on a free loopback port
 * with a temporary data directory, for the tests.
 */

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** `CHRONOS_BIN`, else the workspace's debug build. */
export function chronosBin(): string {
  return process.env.CHRONOS_BIN ?? resolve(import.meta.dirname, '../../../../target/debug/chronos');
}

export interface Running {
  url: string;
  dir: string;
  stop(): Promise<void>;
}

/** A fresh server; `config` (a configuration document) replaces the embedded default. */
export async function startServer(config?: (dataDir: string) => unknown): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'chronos-client-'));
  const args = ['serve', '--listen', '127.0.0.1:0'];
  if (config) {
    const file = join(dir, 'chronos.json');
    writeFileSync(file, JSON.stringify(config(join(dir, 'data'))));
    args.unshift('--config', file);
  } else {
    args.unshift('--data-dir', join(dir, 'data'));
  }
  const child: ChildProcess = spawn(chronosBin(), args, { stdio: ['ignore', 'pipe', 'ignore'] });
  const url = await new Promise<string>((ok, fail) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      const m = /http:\/\/\S+/.exec(line);
      if (m) ok(m[0]);
      else fail(new Error(`unexpected start line: ${line}`));
    });
    child.once('exit', (code) => fail(new Error(`chronos serve exited with ${code}`)));
    child.once('error', fail);
  });
  return {
    url,
    dir,
    async stop() {
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A new API key for `scopes`: the key and its configuration entry (`chronos keys new`). */
export function newKey(id: string, scopes: string[]): { key: string; entry: unknown } {
  const args = ['keys', 'new', '--id', id, ...scopes.flatMap((s) => ['--scope', s])];
  const out = JSON.parse(execFileSync(chronosBin(), args, { encoding: 'utf8' }));
  return { key: out.key, entry: out.apiKeysEntry };
}

/** The embedded configuration (`ChronosConfig::embedded`) with `server.apiKeys`. */
export function embeddedWithKeys(entries: unknown[]): (dataDir: string) => unknown {
  return (dataDir) => {
    const local = (ty: string, name: string, prefix: string) => ({
      dbConnRef: 'embedded',
      spaceConnRef: 'files',
      bucket: `chronos-${ty}`,
      dbName: name,
      prefix,
    });
    const template = (name: string, prefix: string) => ({
      dbConnRef: 'embedded',
      spaceConnRef: 'files',
      bucket: 'chronos-{databaseType}',
      dbName: name,
      prefix,
    });
    const tiered = (ty: string) => ({
      genericDatabase: local(ty, `${ty}_generic`, 'generic'),
      domainTemplate: template('{databaseType}_domain_{domain}', 'domains/{domain}'),
      tenantTemplate: template('{databaseType}_tenant_{tenantId}', 'tenants/{tenantId}'),
    });
    return {
      dbConnections: { embedded: { sqliteDir: join(dataDir, 'meta') } },
      spacesConnections: { files: { provider: 'local', basePath: join(dataDir, 'objects') } },
      databases: {
        metadata: tiered('metadata'),
        knowledge: tiered('knowledge'),
        runtime: { tenantTemplate: template('runtime_tenant_{tenantId}', 'tenants/{tenantId}') },
        logs: local('logs', 'logs_generic', 'generic'),
      },
      server: { apiKeys: entries },
    };
  };
}
