import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../infra/paths.ts';
import { envWrites, importCycles, importViolations } from './rules.ts';

/** Every .ts file of the four code rooms, by path relative to the repository root. */
function repositoryFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const room of ['functions', 'infra', 'scripts', 'tests']) {
    for (const f of readdirSync(path.join(ROOT, room), { recursive: true }) as string[]) {
      if (!f.endsWith('.ts') || f.includes('node_modules')) continue;
      const rel = path.posix.join(room, f.split(path.sep).join('/'));
      files.set(rel, readFileSync(path.join(ROOT, rel), 'utf8'));
    }
  }
  return files;
}

describe('the repository', () => {
  const files = repositoryFiles();

  it('keeps its rooms apart and has no import cycles', () => {
    expect(files.size).toBeGreaterThan(50);
    expect(importViolations(files)).toEqual([]);
  });

  it('writes process.env nowhere outside tests/', () => {
    const writes = [...files].filter(([f]) => !f.startsWith('tests/')).flatMap(([f, s]) => envWrites(f, s));
    expect(writes).toEqual([]);
  });
});

describe('the checker itself', () => {
  const planted = new Map([
    [
      'functions/ingest/handler.ts',
      "import { x } from '../../scripts/local/runtime.ts';\nimport type { T } from '../shared/types.ts';",
    ],
    ['functions/shared/types.ts', "import { topology } from '../../infra/topology.ts';\nexport type T = 1;"],
    ['infra/topology.ts', "import { h } from '../tests/helpers/db.ts';\nexport const topology = {};"],
    [
      'scripts/local/runtime.ts',
      "import { b } from '../dev/bench/index.ts';\nimport { s } from './status.ts';",
    ],
    ['scripts/local/status.ts', "import type { R } from './runtime.ts';"],
    [
      'scripts/ops/status.ts',
      "const w = await import('../dev/worker.ts');\nimport { gone } from './gone.ts';",
    ],
    ['scripts/dev/bench/index.ts', "import pg from 'pg';"],
    ['scripts/dev/docs/screenshot.ts', "import { startLocalPipeline } from '../../local/runtime.ts';"],
    ['scripts/dev/worker.ts', "export * from './worker.ts';"],
    ['tests/helpers/db.ts', "import { c } from '../../scripts/dev/scratch-db.ts';"],
    ['scripts/dev/scratch-db.ts', "import pg from 'pg';"],
  ]);

  it('reports each kind of violation on a planted set', () => {
    const problems = importViolations(planted);
    const has = (pattern: RegExp) =>
      expect(
        problems.some((p) => pattern.test(p)),
        `${pattern}\n${problems.join('\n')}`,
      ).toBe(true);
    has(
      /^functions\/ingest\/handler.ts imports scripts\/local\/runtime.ts: functions\/ must not import scripts\//,
    );
    has(/^functions\/shared\/types.ts imports infra\/topology.ts: functions\/ must not import infra\//);
    has(/^infra\/topology.ts imports tests\/helpers\/db.ts: infra\/ must not import tests\//);
    has(/^scripts\/local\/runtime.ts imports scripts\/dev\/bench\/index.ts/);
    has(/^scripts\/ops\/status.ts imports scripts\/dev\/worker.ts/);
    has(/^scripts\/ops\/status.ts: import ".\/gone.ts" does not resolve/);
    has(
      /^import cycle: scripts\/local\/runtime.ts → scripts\/local\/status.ts → scripts\/local\/runtime.ts$/,
    );
    has(/^import cycle: scripts\/dev\/worker.ts → scripts\/dev\/worker.ts$/);
    // Allowed: dev imports local, tests import dev, packages are not files.
    expect(problems.filter((p) => p.startsWith('scripts/dev/') || p.startsWith('tests/'))).toEqual([]);
    expect(problems).toHaveLength(8);
  });

  it('finds a longer cycle and none in a tree', () => {
    const ring = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
    ]);
    expect(importCycles(ring)).toEqual([['a', 'b', 'c', 'a']]);
    expect(
      importCycles(
        new Map([
          ['a', ['b', 'c']],
          ['b', ['c']],
          ['c', []],
        ]),
      ),
    ).toEqual([]);
  });

  it('finds every way of writing process.env, and not reading it', () => {
    const source = [
      "process.env.A = 'x';",
      "process.env['B'] = 'y';",
      'process.env.C ??= "z";',
      'delete process.env.D;',
      'Object.assign(process.env, { E: "1" });',
      'process.env = {};',
      'const read = process.env.F ?? "default";',
      'const copy = { ...process.env, G: "child only" };',
      'if (process.env.H === "1") {}',
    ].join('\n');
    expect(envWrites('scripts/x.ts', source).map((w) => w.split(':')[1])).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
    ]);
  });
});
