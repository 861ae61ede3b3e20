import { createHash } from 'node:crypto';
import { EVENT_COLUMNS } from '../shared/event.ts';

/** How a file's columns map to the event's. */
export interface Columns {
  /** `order[i]`: index in the file of {@link EVENT_COLUMNS}[i]. */
  order: number[];
  /** Columns the event does not have: their index in the file and their name as written (trimmed). */
  extras: { index: number; name: string }[];
  /** Fields in every row of the file. */
  width: number;
  /** Exactly the declared columns, in the declared order: rows can be checked in place. */
  declared: boolean;
  /** The column names as read, in order, hashed: one value per file format. */
  fingerprint: string;
}

/** A header is usable, or why it is not. */
export type HeaderVerdict = { ok: true; columns: Columns } | { ok: false; problem: string };

/**
 * Read a header record. The event's columns are matched by name (case-insensitive, spaces around
 * ignored) in any order; columns the event does not have are kept as extras, so a producer that
 * adds a column does not fail its files. A header missing an event column, naming a column twice,
 * or holding a NUL is not usable: the file fails as `header_mismatch`, and the problem names why.
 */
export function readHeader(raw: string, fields: readonly string[] | null): HeaderVerdict {
  const found = `found "${raw.slice(0, 300).replaceAll('\u0000', '\uFFFD')}"`;
  if (!fields) return { ok: false, problem: `header_mismatch: the header is not valid CSV; ${found}` };
  if (raw.includes('\u0000'))
    return { ok: false, problem: `header_mismatch: the header holds a NUL character; ${found}` };
  const names = fields.map((f) => f.trim());
  const index = new Map<string, number>();
  const repeated = new Set<string>();
  names.forEach((name, i) => {
    const key = name.toLowerCase();
    if (index.has(key)) repeated.add(name);
    else index.set(key, i);
  });
  const missing = EVENT_COLUMNS.filter((c) => !index.has(c));
  if (missing.length > 0)
    return {
      ok: false,
      problem: `header_mismatch: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; ${found}`,
    };
  if (repeated.size > 0)
    return {
      ok: false,
      problem: `header_mismatch: column${repeated.size > 1 ? 's' : ''} named twice: ${[...repeated].join(', ')}; ${found}`,
    };
  const order = EVENT_COLUMNS.map((c) => index.get(c) as number);
  const known = new Set(order);
  const extras = names.flatMap((name, i) => (known.has(i) ? [] : [{ index: i, name }]));
  return {
    ok: true,
    columns: {
      order,
      extras,
      width: names.length,
      declared: extras.length === 0 && order.every((i, n) => i === n),
      fingerprint: createHash('sha256').update(names.join('\n')).digest('hex').slice(0, 16),
    },
  };
}

/**
 * The extra columns' values of a row as JSON object text (empty values left out); undefined when
 * there are none, null when one holds a NUL (which jsonb cannot store: the row is rejected).
 */
export function extraValues(columns: Columns, fields: readonly string[]): string | undefined | null {
  let out: Record<string, string> | undefined;
  for (const { index, name } of columns.extras) {
    const value = fields[index] ?? '';
    if (value === '') continue;
    if (value.includes('\u0000')) return null;
    out ??= {};
    out[name] = value;
  }
  return out && JSON.stringify(out);
}
