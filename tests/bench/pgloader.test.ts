import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CSV_HEADER, createGenerator } from '../../functions/generator/generate.ts';
import { ROOT } from '../../infra/paths.ts';
import { measuredPeer, pgloaderPeer, pgloaderUri } from '../../scripts/dev/bench/pgloader.ts';

/**
 * The bench's pgloader peer on tiny files against the real PostgreSQL: every row of the files
 * lands, a load that drops rows fails instead of giving a figure, and a machine without pgloader
 * gets `{ absent }`.
 */

const installed = !spawnSync('pgloader', ['--version']).error;
/** Said in the name of the tests that need pgloader, so a skipped run tells why. */
const needs = installed ? '' : ' (skipped: pgloader is not on the PATH)';
const DATA = path.join(ROOT, '.data');
let work: string;

beforeAll(async () => {
  await mkdir(DATA, { recursive: true });
  work = await mkdtemp(path.join(DATA, 'test-pgloader-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Two generated files and one written by hand with a quoted field (comma and doubled quote in it). */
function tinyFiles(): { buffers: Buffer[]; rows: number } {
  const gen = createGenerator({ seed: 11, badRate: 0, duplicateRate: 0 });
  const quoted = `${CSV_HEADER}\n0b9a6a3e-5d0c-4c55-9a62-2f1f7d6a1c01,purchase,U000001,S1,P000001,"Widget, ""deluxe""",Toys,12.50,2,mobile,2026-01-02T03:04:05.000Z\n`;
  return {
    buffers: [Buffer.from(gen.batch(40).csv), Buffer.from(gen.batch(25).csv), Buffer.from(quoted)],
    rows: 40 + 25 + 1,
  };
}

describe('pgloader peer', () => {
  it.skipIf(!installed)(`loads every row of the files${needs}`, { timeout: 60_000 }, async () => {
    const files = tinyFiles();
    const dir = path.join(work, 'clean');
    const r = await pgloaderPeer(inject('adminDatabaseUrl'), files, { dir, workers: 2 });
    if (!measuredPeer(r)) throw new Error(`pgloader absent: ${r.absent}`);
    // rows is counted in user_events after the load, and checked against the files there.
    expect(r.rows).toBe(files.rows);
    expect(r.workers).toBe(2);
    expect(r.rowsPerSec).toBeGreaterThan(0);
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.version).toMatch(/\d/);
    expect(r.rejectsDir).toBe(path.relative(ROOT, dir));
    // The copies of the files are removed; the repetition's command file and log stay.
    expect((await readdir(dir)).sort()).toEqual(['rep-1']);
    expect(await readdir(path.join(dir, 'rep-1'))).toEqual(
      expect.arrayContaining(['load.pgloader', 'pgloader.log']),
    );
  });

  it.skipIf(!installed)(`fails with its log when rows do not land${needs}`, { timeout: 60_000 }, async () => {
    const files = tinyFiles();
    // A value the table's CHECK refuses: pgloader sets the row aside in its reject file and exits 0.
    files.buffers[1] = Buffer.from(
      files.buffers[1]
        ?.toString('utf8')
        .replace(/,(view|purchase|add_to_cart|remove_from_cart|wishlist),/, ',bogus,') ?? '',
    );
    await expect(
      pgloaderPeer(inject('adminDatabaseUrl'), files, { dir: path.join(work, 'short') }),
    ).rejects.toThrow(/landed 65 rows of the 66[\s\S]*log tail/);
  });

  it('returns { absent } when pgloader is not on the PATH', async () => {
    const emptyDir = path.join(work, 'empty-path');
    await mkdir(emptyDir, { recursive: true });
    const r = await pgloaderPeer('postgres://unused@127.0.0.1:1/unused', tinyFiles(), {
      searchPath: emptyDir,
    });
    expect(r).toEqual({ absent: expect.stringMatching(/not found on the PATH/) });
    expect(measuredPeer(r)).toBe(false);
  });

  it('gives pgloader the URL without the password, which goes to PGPASSWORD', () => {
    expect(pgloaderUri('postgres://bench:s%40cret@db.example:6543/bench_1?sslmode=require')).toEqual({
      uri: 'postgresql://bench@db.example:6543/bench_1?sslmode=require',
      password: 's@cret',
    });
    expect(pgloaderUri('postgres://postgres@127.0.0.1/x').uri).toBe('postgresql://postgres@127.0.0.1:5432/x');
  });
});
