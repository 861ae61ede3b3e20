import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, inject, it } from 'vitest';
import { ROOT } from '../../infra/paths.ts';

/**
 * Smoke test of `npm run bench -- --quick`: the whole benchmark runs end to end on small sizes and
 * fills every key of the results file with a measurement. No thresholds: speed is the report's job,
 * and this machine is shared.
 */

const run = promisify(execFile);

it('runs the quick benchmark and fills every key of results.json with a number', {
  timeout: 240_000,
}, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-quick-'));
  try {
    const results = path.join(dir, 'results.json');
    await run(
      process.execPath,
      ['--import', 'tsx', 'scripts/dev/bench/index.ts', '--quick', '--results', results, '--docs', dir],
      {
        cwd: ROOT,
        env: { ...process.env, DATABASE_URL: inject('adminDatabaseUrl'), POWERTOOLS_LOG_LEVEL: 'WARN' },
        maxBuffer: 16 * 2 ** 20,
      },
    );
    const r = JSON.parse(await readFile(results, 'utf8')) as Record<string, unknown>;
    const numbers = (o: unknown, keys: string[]) => {
      for (const k of keys) {
        const v = (o as Record<string, unknown>)[k];
        expect(typeof v, k).toBe('number');
        expect(Number.isFinite(v), k).toBe(true);
      }
    };
    numbers(r, [
      'copyRowsPerSec',
      'endToEndRowsPerSec',
      'ratioToCopy',
      'replaySpeedup',
      'duplicateMixRowsPerSec',
      'badRowMixRowsPerSec',
      'generatorEventsPerSec',
      'ingestCpuUsPerRow',
    ]);
    numbers(r.latencyMs, ['p50', 'p95', 'p99']);
    numbers(r.halfLoadLatencyMs, ['p50', 'p95', 'p99']);
    numbers(r.largeObject, ['rows', 'seconds', 'rowsPerSec', 'peakRssMb', 'continuations', 'chunks']);
    numbers(r.largeObjectScaling, ['functionTimeoutSeconds', 'rowsPerSecRatio']);
    numbers((r.largeObjectScaling as Record<string, unknown>).large, ['rows', 'rowsPerSec', 'continuations']);
    numbers(r.machine, ['cpus', 'memGb']);
    expect(typeof (r.machine as Record<string, unknown>).node).toBe('string');
    expect(typeof (r.machine as Record<string, unknown>).postgres).toBe('string');
    // Measurements, not placeholders: rows really moved.
    expect(r.copyRowsPerSec).toBeGreaterThan(0);
    expect(r.endToEndRowsPerSec).toBeGreaterThan(0);
    expect((r.largeObject as { peakRssMb: number }).peakRssMb).toBeGreaterThan(0);
    const md = await readFile(path.join(dir, 'performance.md'), 'utf8');
    expect(md).toContain('![throughput and latency](performance.svg)');
    expect(await readFile(path.join(dir, 'performance.svg'), 'utf8')).toMatch(/^<svg /);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
