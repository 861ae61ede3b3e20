import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { EVENT_COLUMNS } from '../shared/event.ts';
import { type Chunk, type ChunkPart, ID_BYTES, pgText, quote } from './chunk.ts';
import { firstOccurrences } from './plan.ts';

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

/**
 * Write the chunk's rows: the first occurrence of each event_id among the parts not skipped, minus
 * those already stored, in event_id order; then the rejects. Parts over their reject budget write
 * their valid rows as rejects instead. Returns rows inserted per part (and tells `onInserted` which).
 */
export async function writeRows(
  client: pg.ClientBase,
  chunk: Chunk,
  skip: ReadonlySet<number>,
  overBudget: ReadonlySet<number>,
  onInserted?: (row: number) => void,
): Promise<number[]> {
  const exclude = overBudget.size === 0 ? skip : new Set([...skip, ...overBudget]);
  const rows = firstOccurrences(chunk, exclude);
  const present = await presentIds(client, chunk, rows);
  const inserted = new Array<number>(chunk.parts.length).fill(0);
  const events = new CopyRows(client);
  for (let k = 0; k < rows.length; k++) {
    const i = rows[k] as number;
    if (present.size > 0 && present.has(chunk.idOf(i))) continue;
    const p = chunk.partOf(i);
    inserted[p] = (inserted[p] as number) + 1;
    onInserted?.(i);
    const extra = chunk.extras.size > 0 ? chunk.extras.get(i) : undefined;
    events.row(
      chunk,
      i,
      (chunk.parts[p] as ChunkPart).source,
      extra === undefined ? undefined : quote(extra),
    );
    if (events.full) await events.flush();
  }
  await events.end();
  const rejects = new CopyWriter(client, REJECTS_COPY);
  for (const line of skip.size === 0 ? chunk.rejects : chunk.rejectsExcept(skip)) rejects.add(line);
  for (const line of overBudget.size > 0 ? budgetRejects(chunk, overBudget) : []) rejects.add(line);
  await rejects.end();
  return inserted;
}

/** The valid rows of parts over their reject budget, as rejects. */
function budgetRejects(chunk: Chunk, overBudget: ReadonlySet<number>): string[] {
  const out: string[] = [];
  for (const p of overBudget) {
    const part = chunk.parts[p] as ChunkPart;
    const [from, to] = chunk.rowsOf(p);
    for (let i = from; i < to; i++)
      out.push(
        `${part.rejectSource}${chunk.lineOf(i)},reject_budget_exceeded,${quote(pgText(chunk.rawOf(i)))}\n`,
      );
  }
  return out;
}

/**
 * The event_ids of these rows that `user_events` already holds. One text parameter in array syntax,
 * copied from the store: far cheaper for the driver than an array of 50,000 strings.
 */
async function presentIds(client: pg.ClientBase, chunk: Chunk, rows: Int32Array): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const text = Buffer.allocUnsafe(2 + rows.length * (ID_BYTES + 1));
  let o = 0;
  text[o++] = 0x7b; // {
  for (let k = 0; k < rows.length; k++) {
    if (k > 0) text[o++] = 0x2c; // ,
    const s = chunk.startOf(rows[k] as number);
    o += chunk.store.copy(text, o, s, s + ID_BYTES);
  }
  text[o++] = 0x7d; // }
  const { rows: found } = await client.query<{ id: string }>(
    'SELECT event_id::text AS id FROM user_events WHERE event_id = ANY($1::uuid[])',
    [text.toString('latin1', 0, o)],
  );
  return new Set(found.map((r) => r.id));
}

/**
 * Rows to `COPY user_events`, copied byte for byte from the chunk's store into pieces of about
 * 256 KiB: each line is the row's event columns, its object's source columns, its line number and
 * its extra columns. No string per row.
 */
class CopyRows {
  private out = Buffer.allocUnsafe(PIECE_BYTES + 64 * 1024);
  private size = 0;
  private readonly copy: CopyWriter;

  constructor(client: pg.ClientBase) {
    this.copy = new CopyWriter(client, EVENTS_COPY);
  }

  get full(): boolean {
    return this.size >= PIECE_BYTES;
  }

  /** Row `i` of the chunk, with its source columns and `extra` (COPY-quoted JSON) if any. */
  row(chunk: Chunk, i: number, source: Buffer, extra: string | undefined): void {
    const start = chunk.startOf(i);
    const end = chunk.endOf(i);
    const room = end - start + source.length + 16 + (extra ? extra.length * 3 : 0);
    if (this.size + room > this.out.length) this.grow(this.size + room);
    const out = this.out;
    let o = this.size;
    o += chunk.store.copy(out, o, start, end);
    o += source.copy(out, o);
    o = writeDigits(out, o, chunk.lineOf(i));
    out[o++] = 0x2c; // , then the extra column (empty: NULL)
    if (extra !== undefined) o += out.write(extra, o, 'utf8');
    out[o++] = 0x0a;
    this.size = o;
  }

  async flush(): Promise<void> {
    if (this.size === 0) return;
    const piece = this.out.subarray(0, this.size);
    // The piece is handed to the socket as it is: the next rows go to a new buffer.
    this.out = Buffer.allocUnsafe(this.out.length);
    this.size = 0;
    await this.copy.send(piece);
  }

  async end(): Promise<void> {
    await this.flush();
    await this.copy.end();
  }

  private grow(atLeast: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(atLeast, this.out.length * 2));
    this.out.copy(bigger, 0, 0, this.size);
    this.out = bigger;
  }
}

const PIECE_BYTES = 256 * 1024;

/** Write a non-negative integer's decimal digits at `o`; returns the offset after them. */
function writeDigits(out: Buffer, o: number, n: number): number {
  if (n < 10) {
    out[o] = 48 + n;
    return o + 1;
  }
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let k = digits - 1, x = n; k >= 0; k--, x = Math.floor(x / 10)) out[o + k] = 48 + (x % 10);
  return o + digits;
}

/**
 * Text to one COPY … FROM STDIN, gathered in pieces of about 256 KiB (one join and one write per
 * piece) and written honouring backpressure. The COPY starts with the first piece: nothing added,
 * no statement sent.
 */
class CopyWriter {
  private parts: string[] = [];
  private chars = 0;
  private stream: ReturnType<typeof copyFrom> | undefined;
  private done: Promise<void> | undefined;

  constructor(
    private readonly client: pg.ClientBase,
    private readonly sql: string,
  ) {}

  /** Add text (the pieces of one line). */
  add(...text: string[]): void {
    for (const t of text) {
      this.parts.push(t);
      this.chars += t.length;
    }
  }

  /** True when a piece is ready to go. */
  get full(): boolean {
    return this.chars >= PIECE_CHARS;
  }

  /** Send what is gathered. */
  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.chars = 0;
    await this.send(text);
  }

  /** Send data as it is (starting the COPY if need be), waiting when the connection is behind. */
  async send(data: string | Buffer): Promise<void> {
    if (!this.stream) {
      const stream = this.client.query(copyFrom(this.sql));
      this.done = new Promise<void>((resolve, reject) => {
        stream.on('finish', resolve);
        stream.on('error', reject);
      });
      this.stream = stream;
    }
    if (!this.stream.write(data)) await Promise.race([drained(this.stream), this.done]);
  }

  /** Send the rest and finish the COPY. */
  async end(): Promise<void> {
    await this.flush();
    if (!this.stream) return;
    this.stream.end();
    await this.done;
  }
}

const PIECE_CHARS = 256 * 1024;

function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.once('drain', resolve));
}
