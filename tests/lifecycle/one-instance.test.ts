import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  idleInstanceArgs,
  ingestedObjects,
  lifecycleFixture,
  QUIET,
  stopCleanly,
  until,
} from '../helpers/lifecycle.ts';
import { freePort } from '../helpers/net.ts';
import { npmStart, processesMentioning } from '../helpers/npm-start.ts';

/**
 * One `npm start` per data folder, and signals only ever sent to our own PostgreSQL: each case with
 * real processes.
 */
const { cleanups, dataDir, started } = lifecycleFixture();

describe('one runtime per data folder', () => {
  it('a second npm start on the folder stops at once, naming the first (PID and ports); the first one goes on', async () => {
    const dir = await dataDir();
    const pgPort = await freePort();
    const first = started([
      '--data-dir',
      dir,
      '--port',
      '0',
      '--pg-port',
      String(pgPort),
      '--interval',
      '0.3',
      '--events',
      '50',
      ...QUIET,
    ]);
    await first.waitFor(/ready in/);
    const endpointPort = Number(/127\.0\.0\.1:(\d+)/.exec(first.endpoint() ?? '')?.[1]);

    // Other ports, as the user guide advises when a port is taken; and once more with an endpoint
    // of its own (the folder still holds the embedded PostgreSQL).
    for (const env of [{}, { AWS_ENDPOINT_URL: first.endpoint() }]) {
      const second = npmStart(
        ['--data-dir', dir, '--port', '0', '--pg-port', String(await freePort()), ...QUIET],
        env,
      );
      expect(await second.exited).toBe(1);
      const last = second.stderr().trim().split('\n').at(-1) ?? '';
      expect(last).toMatch(/^error: another npm start \(pid \d+/);
      expect(last).toContain(`pid ${first.child.pid}`);
      expect(last).toContain(`PostgreSQL on port ${pgPort}`);
      expect(last).toContain(`S3+SQS endpoint on port ${endpointPort}`);
      expect(second.stderr()).not.toMatch(/^\s+at /m);
    }

    // The first one still ingests: its PostgreSQL was left alone.
    const before = ingestedObjects(first);
    await until('the first runtime to ingest more objects', () => ingestedObjects(first) >= before + 3);
    expect(first.stderr()).not.toContain('status unavailable');
    await stopCleanly(first);
    // Its lock is gone with it; the ingest pool was closed before PostgreSQL stopped.
    expect(existsSync(path.join(dir, 'lock.json'))).toBe(false);
    expect(first.stdout()).not.toContain('idle database connection lost');
  }, 120_000);
});

describe('signals go only to our own PostgreSQL', () => {
  it('a pid file naming a live process that is not our server (an earlier boot) is removed, the process left alone', async () => {
    const dir = await dataDir();
    const args = await idleInstanceArgs(dir);
    const first = started(args);
    await first.waitFor(/ready in/);
    await stopCleanly(first);

    // After a reboot the PID in a leftover postmaster.pid belongs to anything: here, a sleep.
    const stranger = spawn('sleep', ['300'], { stdio: 'ignore' });
    cleanups.push(async () => stranger.kill('SIGKILL'));
    const pidFile = path.join(dir, 'pg', 'postmaster.pid');
    await writeFile(pidFile, `${stranger.pid}\n${path.join(dir, 'pg')}\n1700000000\n5432\n\n127.0.0.1\n`);

    const second = started(args);
    await second.waitFor(/ready in/);
    expect(stranger.exitCode).toBeNull();
    expect(stranger.signalCode).toBeNull();
    expect(second.stderr()).toContain(`names pid ${stranger.pid}, which is not a PostgreSQL on this folder`);
    await stopCleanly(second);
    expect(stranger.signalCode).toBeNull();
  }, 120_000);

  it('kill -9 leaves our server running; the next start finds it is ours, stops it and starts cleanly', async () => {
    const dir = await dataDir();
    const args = await idleInstanceArgs(dir);
    const first = started(args);
    await first.waitFor(/ready in/);
    first.killGroup();
    await first.exited;
    // The server runs in its own process group: it outlives the kill.
    const orphans = (await processesMentioning(path.join(dir, 'pg'))).filter(
      (pid) => pid !== first.child.pid,
    );
    expect(orphans.length).toBeGreaterThan(0);
    const postmaster = Number(
      (await readFile(path.join(dir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0],
    );

    const second = started(args);
    await second.waitFor(/ready in/);
    expect(second.stderr()).toContain(`stopping the PostgreSQL (pid ${postmaster}) left running`);
    expect(existsSync(`/proc/${postmaster}`)).toBe(false);
    await stopCleanly(second);
    expect(await processesMentioning(dir)).toEqual([]);
  }, 120_000);
});
