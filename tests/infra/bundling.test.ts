import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../infra/paths.ts';
import { startPostgres } from './postgres.ts';
import { type CfnResourceJson, functionId, type Synthesized, synthPipeline } from './synth.ts';

const run = promisify(execFile);
const FUNCTIONS = ['generator', 'ingest', 'migrate', 'reconcile'] as const;

/**
 * One full synth with real bundling: the local esbuild (never Docker) builds the four handlers.
 * Needs functions/generator and functions/ingest to exist; no network, no Docker.
 */
describe('full synth with bundling', { timeout: 120_000 }, () => {
  let synth: Synthesized;
  beforeAll(() => {
    // Timed for information only: speed targets belong to benchmarks, not to pass/fail tests.
    const started = performance.now();
    // CloudFormation schema validation is covered by the cdk-nag tests; here only the bundles matter.
    synth = synthPipeline({}, { bundle: true, cfnValidation: false });
    console.info(`full synth with bundling took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }, 120_000);
  afterAll(() => synth?.dispose());

  /** The staged asset directory of one of our functions. */
  function assetDir(name: (typeof FUNCTIONS)[number]): string {
    const fn = synth.template.toJSON().Resources[functionId(synth.template, name)] as CfnResourceJson;
    const key = (fn.Properties?.Code as { S3Key?: string } | undefined)?.S3Key;
    expect(key, `${name} should be a bundled asset, not inline code`).toMatch(/^[0-9a-f]{64}\.zip$/);
    return path.join(synth.outdir, `asset.${(key as string).replace(/\.zip$/, '')}`);
  }

  it.each(FUNCTIONS)('%s: an ESM bundle with a source map and an index.handler entry', (name) => {
    const dir = assetDir(name);
    const files = readdirSync(dir);
    expect(files).toEqual(expect.arrayContaining(['index.mjs', 'index.mjs.map']));
    const code = readFileSync(path.join(dir, 'index.mjs'), 'utf8');
    expect(code).toMatch(/export\s*\{[^}]*\bhandler\b/);
    expect(code).toContain('sourceMappingURL=index.mjs.map');
    const map = JSON.parse(readFileSync(path.join(dir, 'index.mjs.map'), 'utf8')) as { sources: string[] };
    expect(map.sources.some((s) => s.endsWith(`functions/${name}/handler.ts`))).toBe(true);
    // pg-native stays out (optional addon); everything else, the AWS SDK included, is inside.
    expect(statSync(path.join(dir, 'index.mjs')).size).toBeGreaterThan(50_000);
  });

  it('the migrate bundle carries every sql/ migration', () => {
    const shipped = readdirSync(path.join(assetDir('migrate'), 'sql')).sort();
    const source = readdirSync(path.join(ROOT, 'sql'))
      .filter((f) => f.endsWith('.sql'))
      .sort();
    expect(shipped).toEqual(source);
  });

  it.each(FUNCTIONS)('%s: the bundle loads in plain Node and exports handler', async (name) => {
    const file = path.join(assetDir(name), 'index.mjs');
    // Import in a child process, like the Lambda runtime would (cold start only: nothing is invoked).
    const { stdout } = await run(
      process.execPath,
      [
        '--enable-source-maps',
        '-e',
        `import(${JSON.stringify(file)}).then((m) => console.log(typeof m.handler))`,
      ],
      {
        env: {
          PATH: process.env.PATH ?? '',
          AWS_REGION: 'us-east-1',
          BUCKET_NAME: 'bucket',
          KEY_PREFIX: 'events/',
          EVENTS_PER_OBJECT: '10',
          BAD_RATE: '0',
          DUPLICATE_RATE: '0',
          DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
          POWERTOOLS_SERVICE_NAME: `test-${name}`,
        },
        timeout: 30_000,
      },
    );
    expect(stdout.trim()).toBe('function');
  });

  it('the migrate bundle applies its own sql/ copy to a real PostgreSQL', async () => {
    const db = await startPostgres();
    try {
      const file = path.join(assetDir('migrate'), 'index.mjs');
      const script = `import(${JSON.stringify(file)}).then((m) => m.handler()).then((r) => console.log(JSON.stringify(r)))`;
      const { stdout } = await run(process.execPath, ['-e', script], {
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url, AWS_REGION: 'us-east-1' },
        timeout: 30_000,
      });
      // The function's own log lines come first; the last line is the trigger's result.
      const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
        applied: string[];
        total: number;
      };
      expect(result.total).toBeGreaterThan(0);
      expect(result.applied).toHaveLength(result.total);
    } finally {
      await db.stop();
    }
  });

  it('writes nothing outside the cloud assembly directory', () => {
    // Local bundling happens inside the outdir; no build output lands next to the sources.
    for (const name of FUNCTIONS) {
      for (const stray of ['index.mjs', 'index.js', 'index.mjs.map']) {
        expect(existsSync(path.join(ROOT, 'functions', name, stray))).toBe(false);
      }
    }
    expect(readdirSync(synth.outdir).some((f) => f.startsWith('bundling-temp-'))).toBe(false);
  });
});
