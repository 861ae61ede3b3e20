import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../scripts/local/database.ts';
import { testEndpoint } from '../helpers/endpoint.ts';

/**
 * The embedded S3+SQS endpoint and the embedded PostgreSQL must listen on 127.0.0.1 only: a laptop
 * on a café network must not expose an unauthenticated S3/SQS or its database. Checked twice: the
 * kernel's table of listening sockets, and a connection attempt on the machine's other addresses.
 */

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Local addresses (hex, as /proc/net/tcp{,6} writes them) of the sockets listening on `port`. */
function listeningAddresses(port: number): string[] {
  const out: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const row of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      const [address, hexPort] = (cols[1] ?? '').split(':');
      // State 0A = LISTEN.
      if (cols[3] === '0A' && hexPort && Number.parseInt(hexPort, 16) === port) out.push(address ?? '');
    }
  }
  return out;
}

/** This machine's addresses that are not loopback (where an outsider would connect). */
function externalAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal && a.family === 'IPv4')
    .map((a) => a?.address as string);
}

/** Resolves 'refused' or 'connected' for a TCP connection attempt. */
function tryConnect(host: string, port: number): Promise<'refused' | 'connected'> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', () => resolve('refused'));
    socket.once('timeout', () => {
      socket.destroy();
      resolve('refused');
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const LOOPBACK_V4 = '0100007F';
const hasProc = existsSync('/proc/net/tcp');

async function assertLoopbackOnly(port: number): Promise<void> {
  if (hasProc) expect(listeningAddresses(port)).toEqual([LOOPBACK_V4]);
  expect(await tryConnect('127.0.0.1', port)).toBe('connected');
  for (const address of externalAddresses()) expect(await tryConnect(address, port)).toBe('refused');
}

describe('listens on 127.0.0.1 only', () => {
  it('the embedded S3+SQS endpoint', async () => {
    const aws = await testEndpoint();
    try {
      await assertLoopbackOnly(aws.endpoint.port);
    } finally {
      await aws.stop();
    }
  });

  it('the embedded PostgreSQL', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'security-pg-'));
    dirs.push(dataDir);
    // As root the server runs as `postgres`, which must be able to enter the folder.
    await chmod(dataDir, 0o755);
    const db = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'security' });
    try {
      const port = Number(new URL(db.url).port);
      await assertLoopbackOnly(port);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query('SHOW listen_addresses');
      await client.end();
      expect(rows[0].listen_addresses).toBe('127.0.0.1');
    } finally {
      await db.stop();
    }
  });

  it('the check itself sees a socket bound to all interfaces (so it can fail)', async () => {
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(0, '0.0.0.0', resolve));
    const address = srv.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      if (hasProc) expect(listeningAddresses(port)).toEqual(['00000000']);
      for (const a of externalAddresses()) expect(await tryConnect(a, port)).toBe('connected');
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
