import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { idleInstanceArgs, lifecycleFixture, stopCleanly, until } from '../helpers/lifecycle.ts';
import { type NpmStart, processesMentioning } from '../helpers/npm-start.ts';

/**
 * Ctrl+C at any moment of a first start stops every child and leaves a folder the next start uses; a
 * cluster left without its credentials is moved aside. Each case with real processes.
 */
const { dataDir, started } = lifecycleFixture();

describe('Ctrl+C at any moment of the start', () => {
  /** Moments of a first start, each recognised by what it leaves in the folder or writes. */
  const moments: [string, (dir: string, p: NpmStart) => boolean][] = [
    ['the endpoint has opened its files', (dir) => existsSync(path.join(dir, 'sqs', 'fauxqs.db'))],
    ['initdb is creating the cluster', (dir) => existsSync(path.join(dir, 'pg.partial', 'PG_VERSION'))],
    ['PostgreSQL is starting', (dir) => existsSync(path.join(dir, 'pg', 'postmaster.pid'))],
    ['the migrations were applied', (_dir, p) => p.stderr().includes('migrations applied')],
  ];

  it.each(moments)(
    'when %s: every child stops, and the next start works',
    async (_moment, reached) => {
      const dir = await dataDir();
      const args = await idleInstanceArgs(dir);
      const first = started(args);
      await until('the moment', () => reached(dir, first) || first.child.exitCode !== null, 60_000);
      first.signal('SIGINT');
      const code = await first.exited;
      // Interrupted (130), or it was just done and stopped cleanly (0).
      expect([0, 130]).toContain(code);
      expect(first.stderr()).not.toMatch(/^\s+at /m);
      expect(await processesMentioning(dir)).toEqual([]);

      const second = started(args);
      await second.waitFor(/ready in/);
      expect(second.stderr()).not.toContain('password authentication failed');
      await stopCleanly(second);
      expect(await processesMentioning(dir)).toEqual([]);
    },
    120_000,
  );

  it('a cluster left without its credentials (by older versions) is moved aside and created again, with a message', async () => {
    const dir = await dataDir();
    const args = await idleInstanceArgs(dir);
    const first = started(args);
    await first.waitFor(/ready in/);
    await stopCleanly(first);
    await rm(path.join(dir, 'database-url'));

    const second = started(args);
    await second.waitFor(/ready in/);
    expect(second.stderr()).toMatch(/without its credentials .* moved it to .*pg\.incomplete-/);
    await stopCleanly(second);
  }, 120_000);
});
