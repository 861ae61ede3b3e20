import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { EVENT_COLUMNS } from '../shared/event.ts';

/**
 * The SQL that writes rows. Every statement is parameterized; the only identifiers built into SQL
 * text are the fixed column names of {@link EVENT_COLUMNS}.
 *
 * One write strategy: probe the chunk's event_ids against the primary key, then COPY the rows not
 * there yet straight into `user_events`, sorted by event_id. COPY costs PostgreSQL and Node far less
 * per row than INSERT … ON CONFLICT (no per-row parameters to serialize, batched index inserts), and
 * needs no temporary table or session setting (either would pin an RDS Proxy connection).
 *
 * Concurrency: two transactions racing on one event_id both miss it in their probe; the second
 * one's COPY waits on the first's uncommitted key, then fails with unique_violation (23505) when the
 * first commits. The caller rolls back and writes the chunk again: the new probe sees the committed
 * row and counts it as a duplicate. Both COPYs insert in event_id order, so two transactions wait on
 * each other's keys in the same order and cannot deadlock.
 */

const EVENTS_COPY = `COPY user_events (${EVENT_COLUMNS.join(', ')}, source_bucket, source_key, source_line, extra)
  FROM STDIN (FORMAT csv)`;
const REJECTS_COPY = `COPY rejected_events (source_bucket, source_key, source_etag, line_number, reason, raw_line)
  FROM STDIN (FORMAT csv)`;

/** The event_ids among `ids` (canonical lowercase text) that `user_events` already holds. */
export async function presentIds(client: pg.ClientBase, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  // One text parameter in array syntax: far cheaper for the driver than an array of 50k strings.
  const { rows } = await client.query<{ id: string }>(
    'SELECT event_id::text AS id FROM user_events WHERE event_id = ANY($1::uuid[])',
    [`{${ids.join(',')}}`],
  );
  return new Set(rows.map((r) => r.id));
}

/** COPY finished lines (each ending in a line break) into `user_events`. */
export function copyEvents(client: pg.ClientBase, lines: readonly string[]): Promise<void> {
  return copyLines(client, EVENTS_COPY, lines);
}

/** COPY finished lines into `rejected_events`. */
export function copyRejects(client: pg.ClientBase, lines: readonly string[]): Promise<void> {
  return copyLines(client, REJECTS_COPY, lines);
}

/** Stream lines to a COPY in pieces of about 256 KiB, honouring backpressure. */
async function copyLines(client: pg.ClientBase, sql: string, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  const stream = client.query(copyFrom(sql));
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  let from = 0;
  let chars = 0;
  for (let i = 0; i < lines.length; i++) {
    chars += (lines[i] as string).length;
    if (chars < PIECE_CHARS && i < lines.length - 1) continue;
    // One join per piece: a flat string, encoded once.
    if (!stream.write(lines.slice(from, i + 1).join(''))) await Promise.race([drained(stream), done]);
    from = i + 1;
    chars = 0;
  }
  stream.end();
  await done;
}

const PIECE_CHARS = 256 * 1024;

function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.once('drain', resolve));
}
