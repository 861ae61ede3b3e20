import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../scripts/local/database.ts';
import { freshDatabase } from '../helpers/db.ts';
import { freePort } from '../helpers/net.ts';
import { type NpmStart, npmStart, processesMentioning, tempDataDir } from '../helpers/npm-start.ts';

/**
 * `npm start`'s life as a user lives it, each case with a real process: one runtime per data folder,
 * never a signal to a process that is not our PostgreSQL, Ctrl+C at any moment of the start, a first
 * start that cannot leave the folder unusable, and start errors that are one line saying what to do.
 */

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** A data folder removed after the file's tests, with every process still using it killed first. */
async function dataDir(): Promise<string> {
  const d = await tempDataDir('lifecycle-');
  cleanups.push(async () => {
    for (const pid of await processesMentioning(d.dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await d.remove();
  });
  return d.dir;
}

/** A started instance that is killed (group and all) at the end if a test left it running. */
function started(args: string[], env: NodeJS.ProcessEnv = {}): NpmStart {
  const p = npmStart(args, env);
  cleanups.push(async () => {
    p.killGroup();
    await p.exited;
  });
  return p;
}

const QUIET = ['--dashboard-port', 'off', '--status', '0.5'];

async function stopCleanly(p: NpmStart): Promise<void> {
  p.signal('SIGINT');
  expect(await p.exited).toBe(0);
  expect(p.stderr()).toContain('stopped cleanly.');
}

/** The last "ingested … objects" figure of the status lines. */
function ingestedObjects(p: NpmStart): number {
  const all = [...p.stderr().matchAll(/ingested \d+ rows\/(\d+) objects/g)];
  return Number(all.at(-1)?.[1] ?? -1);
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

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
    const args = [
      '--data-dir',
      dir,
      '--port',
      '0',
      '--pg-port',
      String(await freePort()),
      '--interval',
      '0',
      ...QUIET,
    ];
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
    const args = [
      '--data-dir',
      dir,
      '--port',
      '0',
      '--pg-port',
      String(await freePort()),
      '--interval',
      '0',
      ...QUIET,
    ];
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
      const args = [
        '--data-dir',
        dir,
        '--port',
        '0',
        '--pg-port',
        String(await freePort()),
        '--interval',
        '0',
        ...QUIET,
      ];
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
    const args = [
      '--data-dir',
      dir,
      '--port',
      '0',
      '--pg-port',
      String(await freePort()),
      '--interval',
      '0',
      ...QUIET,
    ];
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

describe('start errors are one line that says what to do, exit 1', () => {
  let taken: Server;
  afterAll(() => new Promise<void>((r) => (taken ? taken.close(() => r()) : r())));

  async function failedStart(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
    const p = started([...args, '--interval', '0', ...QUIET], env);
    expect(await p.exited).toBe(1);
    const lines = p.stderr().trim().split('\n');
    // No stack trace: "starting…", then the one error line.
    expect(p.stderr()).not.toMatch(/^\s+at /m);
    expect(lines.filter((l) => l.startsWith('error: '))).toHaveLength(1);
    return lines.at(-1) ?? '';
  }

  it('a port that is taken (endpoint, PostgreSQL)', async () => {
    const port = await freePort();
    taken = createServer();
    await new Promise<void>((r) => taken.listen(port, '127.0.0.1', () => r()));
    const dir = await dataDir();
    expect(
      await failedStart(['--data-dir', dir, '--port', String(port), '--pg-port', String(await freePort())]),
    ).toBe(
      `error: port ${port} of the embedded S3+SQS endpoint is taken (another npm start, LocalStack, another PostgreSQL?): stop what uses it, or pass --port <another port>`,
    );
    expect(await failedStart(['--data-dir', dir, '--port', '0', '--pg-port', String(port)])).toBe(
      `error: port ${port} of the embedded PostgreSQL is taken (another npm start, LocalStack, another PostgreSQL?): stop what uses it, or pass --pg-port <another port>`,
    );
    expect(await processesMentioning(dir)).toEqual([]);
  }, 120_000);

  it('a DATABASE_URL with a wrong password, one where nothing answers, one naming no database', async () => {
    const dir = await dataDir();
    // A server that checks passwords (the test server may trust everyone).
    const server = await startEmbeddedPostgres({
      dataDir: path.join(dir, 'server'),
      port: await freePort(),
      database: 'x',
    });
    cleanups.push(() => server.stop());
    const wrong = new URL(server.url);
    wrong.password = 'not-the-password';
    const args = ['--data-dir', dir, '--port', '0'];
    expect(await failedStart(args, { DATABASE_URL: wrong.toString() })).toMatch(
      /^error: DATABASE_URL \(postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/x\): password authentication failed for user "postgres": fix the user or password in the URL$/,
    );
    const down = await freePort();
    expect(await failedStart(args, { DATABASE_URL: `postgres://postgres@127.0.0.1:${down}/x` })).toBe(
      `error: DATABASE_URL (postgres://postgres@127.0.0.1:${down}/x): nothing answers (connect ECONNREFUSED 127.0.0.1:${down}): start PostgreSQL, or fix the host and port in the URL`,
    );
    const db = await freshDatabase({ migrate: false });
    cleanups.push(() => db.drop());
    const missing = new URL(db.url);
    missing.pathname = '/no_such_database';
    expect(await failedStart(args, { DATABASE_URL: missing.toString() })).toMatch(
      /database "no_such_database" does not exist: create it \(createdb\) or name an existing database in the URL$/,
    );
  }, 120_000);

  it('an option that is not a number', async () => {
    expect(await failedStart(['--port', 'four'])).toBe('error: --port must be a number ≥ 0, got "four"');
  });
});
