import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../scripts/local/database.ts';
import { freePort } from '../helpers/net.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it('starts a real PostgreSQL from npm on 127.0.0.1 whose data survives a restart', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'embedded-pg-'));
  dirs.push(dataDir);
  // mkdtemp makes a 0700 folder; as root the server runs as `postgres`, which must be able to enter it.
  await chmod(dataDir, 0o755);
  const port = await freePort();

  const first = await startEmbeddedPostgres({ dataDir, port, database: 'pipeline' });
  expect(first.url).toMatch(new RegExp(`^postgres://postgres:[^@]+@127\\.0\\.0\\.1:${port}/pipeline$`));
  let client = new pg.Client({ connectionString: first.url });
  await client.connect();
  await client.query('CREATE TABLE kept (v text)');
  await client.query("INSERT INTO kept VALUES ('survives')");
  const listen = await client.query('SHOW listen_addresses');
  expect(listen.rows[0].listen_addresses).toBe('127.0.0.1');
  await client.end();
  await first.stop();

  // The URL (with its generated password) is kept for the user, readable by the owner only.
  const urlFile = path.join(dataDir, 'database-url');
  expect((await readFile(urlFile, 'utf8')).trim()).toBe(first.url);
  expect((await stat(urlFile)).mode & 0o077).toBe(0);

  const second = await startEmbeddedPostgres({ dataDir, port, database: 'pipeline' });
  client = new pg.Client({ connectionString: second.url });
  await client.connect();
  const { rows } = await client.query('SELECT v FROM kept');
  await client.end();
  await second.stop();
  expect(rows).toEqual([{ v: 'survives' }]);
});
