import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { EVENT_COLUMNS } from '../shared/event.ts';
import { type Chunk, type ChunkPart, pgText, quote } from './chunk.ts';

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
  const { ids, texts, lines, partOf, parts } = chunk;
  const exclude = overBudget.size === 0 ? skip : new Set([...skip, ...overBudget]);
  const rows = chunk.firstOccurrences(exclude);
  const probe = new Array<string>(rows.length);
  for (let k = 0; k < rows.length; k++) probe[k] = ids[rows[k] as number] as string;
  const present = await presentIds(client, probe);
  const inserted = new Array<number>(parts.length).fill(0);
  // Each row's COPY line is written as its pieces (no string per row): its event columns as they
  // were in the file, its object's source columns, its line number, and its extra columns.
  const events = new CopyWriter(client, EVENTS_COPY);
  for (let k = 0; k < rows.length; k++) {
    const i = rows[k] as number;
    if (present.size > 0 && present.has(ids[i] as string)) continue;
    const p = partOf[i] as number;
    inserted[p] = (inserted[p] as number) + 1;
    onInserted?.(i);
    const extra = chunk.extras.size > 0 ? chunk.extras.get(i) : undefined;
    events.add(
      texts[i] as string,
      (parts[p] as ChunkPart).source,
      String(lines[i]),
      extra === undefined ? ',\n' : `,${quote(extra)}\n`,
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
        `${part.rejectSource}${chunk.lines[i]},reject_budget_exceeded,${quote(pgText(chunk.rawOf(i)))}\n`,
      );
  }
  return out;
}

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
    if (!this.stream) {
      const stream = this.client.query(copyFrom(this.sql));
      this.done = new Promise<void>((resolve, reject) => {
        stream.on('finish', resolve);
        stream.on('error', reject);
      });
      this.stream = stream;
    }
    const ok = this.stream.write(this.parts.join(''));
    this.parts = [];
    this.chars = 0;
    if (!ok) await Promise.race([drained(this.stream), this.done]);
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
