/** The checked-in types match the checked-in OpenAPI document (`npm run generate`). */

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

it('src/generated/schema.ts is current', () => {
  const root = resolve(import.meta.dirname, '../..');
  const dir = mkdtempSync(join(tmpdir(), 'chronos-gen-'));
  try {
    const out = join(dir, 'schema.ts');
    execFileSync(process.execPath, [join(root, 'node_modules/openapi-typescript/bin/cli.js'), join(root, 'openapi.json'), '-o', out], {
      stdio: 'ignore',
    });
    const fresh = readFileSync(out, 'utf8');
    const committed = readFileSync(join(root, 'src/generated/schema.ts'), 'utf8');
    assert.ok(fresh === committed, 'src/generated/schema.ts is stale: run `npm run generate`');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
