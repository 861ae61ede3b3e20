import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../scripts/local/database.ts';
import { freshDatabase } from '../helpers/db.ts';
import { lifecycleFixture, QUIET } from '../helpers/lifecycle.ts';
import { freePort } from '../helpers/net.ts';
import { processesMentioning } from '../helpers/npm-start.ts';

/** Start errors are one line on stderr that says what to do, exit code 1, no stack trace. */
const { cleanups, dataDir, started } = lifecycleFixture();

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
