import { en, Faker } from '@faker-js/faker';
import { DEVICE_TYPES, EVENT_COLUMNS, type RejectReason } from '../shared/event.ts';

/**
 * Fake e-commerce traffic. A catalog (users, products with stable names, categories and prices) is
 * built once with faker; events are then drawn with a small seeded PRNG, because faker per event is
 * far too slow for the generator's throughput target. Sessions walk a funnel (views ≫ cart actions >
 * purchases). Bad rows and duplicate event_ids are injected at chosen rates, reproducibly.
 */

/** Generator settings. */
export interface GeneratorOptions {
  /** Seed for reproducible output; random when absent. */
  seed?: number;
  /** Share of rows deliberately broken (0..1). */
  badRate?: number;
  /** Share of rows that repeat an earlier event (0..1), in this object or an earlier one. */
  duplicateRate?: number;
  /** Catalog sizes. */
  users?: number;
  products?: number;
  /** Clock for event timestamps (ms). */
  clock?: () => number;
  /**
   * How event_ids are made: `v7` (the default) starts each id with its event time; `v4` is fully
   * random, as many other producers' ids are (the bench uses it to measure that case).
   */
  eventIds?: 'v7' | 'v4';
}

/** One generated CSV object and what went into it (a manifest for tests and the chaos run). */
export interface GeneratedBatch {
  csv: string;
  events: number;
  bad: number;
  duplicates: number;
  /** event_ids of the valid rows, first occurrences only. */
  validIds: string[];
  /** Lines (1-based, header = 1) of the injected bad rows and the reason each must be rejected with. */
  badRows: { line: number; reason: RejectReason }[];
}

interface Product {
  id: string;
  name: string;
  category: string;
  price: string;
  /** product_id..product_price, CSV-quoted once here instead of once per event. */
  csv: string;
}

/** An event of a session not yet written: its fields and its product. */
interface Pending {
  fields: string[];
  product: Product;
}

/** sfc32: tiny, fast, good enough for fake data, and seedable. Returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Two hex digits of byte `shift/8` of `x`. Module-level (not a closure per call): hot path. */
function hx(x: number, shift: number): string {
  return HEX[(x >>> shift) & 0xff] as string;
}

/** A version-4-shaped UUID from the PRNG (reproducible, unlike crypto.randomUUID). */
function uuid(rand: () => number): string {
  const a = (rand() * 4294967296) >>> 0;
  const b = (rand() * 4294967296) >>> 0;
  const c = (rand() * 4294967296) >>> 0;
  const d = (rand() * 4294967296) >>> 0;
  return [
    hx(a, 24) + hx(a, 16) + hx(a, 8) + hx(a, 0),
    hx(b, 24) + hx(b, 16),
    `4${(HEX[(b >>> 8) & 0x0f] as string).slice(1)}${hx(b, 0)}`,
    (HEX[0x80 | ((c >>> 24) & 0x3f)] as string) + hx(c, 16),
    hx(c, 8) + hx(c, 0) + hx(d, 24) + hx(d, 16) + hx(d, 8) + hx(d, 0),
  ].join('-');
}

/**
 * A UUIDv7 (RFC 9562) for an event at `ms`: 48 bits of Unix time in milliseconds, then random bits
 * from the PRNG. Ids that start with their time sort in about arrival order, so the primary key
 * takes each new id at the right edge of its B-tree (a few hot pages) instead of on a random page of
 * an index that outgrows memory as the table grows.
 */
function uuidV7(rand: () => number, ms: number): string {
  const hi = Math.floor(ms / 65536) >>> 0;
  const lo = ms & 0xffff;
  const b = (rand() * 4294967296) >>> 0;
  const c = (rand() * 4294967296) >>> 0;
  const d = (rand() * 4294967296) >>> 0;
  return [
    hx(hi, 24) + hx(hi, 16) + hx(hi, 8) + hx(hi, 0),
    hx(lo, 8) + hx(lo, 0),
    `7${(HEX[(b >>> 8) & 0x0f] as string).slice(1)}${hx(b, 0)}`,
    (HEX[0x80 | ((c >>> 24) & 0x3f)] as string) + hx(c, 16),
    hx(c, 8) + hx(c, 0) + hx(d, 24) + hx(d, 16) + hx(d, 8) + hx(d, 0),
  ].join('-');
}

/** Quote a CSV field when it needs it (RFC 4180). */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The CSV header line, without the line break. */
export const CSV_HEADER = EVENT_COLUMNS.join(',');

/** Ways to break a row, each with the reason the ingest must give. */
const CORRUPTIONS: { reason: RejectReason; apply: (f: string[]) => string[] }[] = [
  { reason: 'invalid_event_id', apply: (f) => set(f, 0, 'not-a-uuid') },
  { reason: 'unknown_event_type', apply: (f) => set(f, 1, 'teleport') },
  { reason: 'missing_user_id', apply: (f) => set(f, 2, '') },
  { reason: 'invalid_price', apply: (f) => set(f, 7, '-3.50') },
  { reason: 'invalid_quantity', apply: (f) => set(f, 8, '0') },
  { reason: 'unknown_device_type', apply: (f) => set(f, 9, 'smartwatch') },
  { reason: 'invalid_timestamp', apply: (f) => set(f, 10, 'yesterday') },
  { reason: 'wrong_column_count', apply: (f) => f.slice(0, 7) },
];

function set(fields: string[], i: number, value: string): string[] {
  const copy = fields.slice();
  copy[i] = value;
  return copy;
}

const CATEGORIES = [
  'Electronics',
  'Books',
  'Home & Kitchen',
  'Clothing',
  'Sports',
  'Toys',
  'Beauty',
  'Garden',
  'Grocery',
  'Automotive',
];

/**
 * A stateful generator: the catalog and the memory of recent event rows (for cross-file
 * duplicates) live as long as the instance, i.e. one Lambda container or one CLI run.
 */
export function createGenerator(options: GeneratorOptions = {}) {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rand = prng(seed);
  const clock = options.clock ?? Date.now;
  const badRate = options.badRate ?? 0;
  const duplicateRate = options.duplicateRate ?? 0;
  const randomIds = options.eventIds === 'v4';

  const faker = new Faker({ locale: [en] });
  faker.seed(seed);
  const products: Product[] = Array.from({ length: options.products ?? 500 }, (_, i) => {
    const id = `P${String(i + 1).padStart(6, '0')}`;
    const name = faker.commerce.productName();
    const category = CATEGORIES[i % CATEGORIES.length] as string;
    const price = faker.commerce.price({ min: 1, max: 2000, dec: 2 });
    return { id, name, category, price, csv: [id, name, category, price].map(csvField).join(',') };
  });
  const userCount = options.users ?? 20_000;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;

  /** Recent valid rows, for duplicates across objects. A ring buffer bounds memory. */
  const recent: string[] = [];
  const RECENT_MAX = 10_000;
  let recentNext = 0;

  /** A session's funnel as a list of [event type, product] steps. */
  function session(): [string, Product][] {
    const steps: [string, Product][] = [];
    const viewed: Product[] = [];
    const views = 1 + Math.floor(rand() * 6);
    for (let i = 0; i < views; i++) {
      const p = pick(products);
      viewed.push(p);
      steps.push(['view', p]);
    }
    if (rand() < 0.1) steps.push(['wishlist', pick(viewed)]);
    if (rand() < 0.35) {
      const p = pick(viewed);
      steps.push(['add_to_cart', p]);
      if (rand() < 0.2) steps.push(['remove_from_cart', p]);
      else if (rand() < 0.5) steps.push(['purchase', p]);
    }
    return steps;
  }

  let pending: Pending[] = [];
  function nextEvent(now: number): Pending {
    if (pending.length === 0) {
      const user = `U${String(1 + Math.floor(rand() * userCount)).padStart(6, '0')}`;
      const sessionId = `S${uuid(rand).slice(0, 18)}`;
      const device = pick(DEVICE_TYPES);
      let t = now - Math.floor(rand() * 60_000);
      pending = session()
        .map(([type, product]): Pending => {
          t += Math.floor(rand() * 4000);
          const at = Math.min(t, now);
          const quantity = type === 'view' || type === 'wishlist' ? 1 : 1 + Math.floor(rand() * rand() * 4);
          const fields = [
            randomIds ? uuid(rand) : uuidV7(rand, at),
            type,
            user,
            sessionId,
            product.id,
            product.name,
            product.category,
            product.price,
            String(quantity),
            device,
            new Date(at).toISOString(),
          ];
          return { fields, product };
        })
        .reverse();
    }
    return pending.pop() as Pending;
  }

  /**
   * A valid event as a CSV line. Only the catalog's text can need quoting (it is quoted once, in
   * the catalog); ids, enums, numbers and ISO timestamps never do. This is the generator's hot path.
   */
  function line({ fields: f, product }: Pending): string {
    // join builds one flat string; a template literal would build a rope that is slower to append.
    return [f[0], f[1], f[2], f[3], product.csv, f[8], f[9], f[10]].join(',');
  }

  /** Generate one CSV object of `count` data rows. */
  function batch(count: number): GeneratedBatch {
    const now = clock();
    let csv = `${CSV_HEADER}\n`;
    const validIds: string[] = [];
    const badRows: GeneratedBatch['badRows'] = [];
    let bad = 0;
    let duplicates = 0;
    for (let i = 0; i < count; i++) {
      const lineNumber = i + 2;
      const r = rand();
      if (r < badRate) {
        const corruption = pick(CORRUPTIONS);
        csv += `${corruption.apply(nextEvent(now).fields).map(csvField).join(',')}\n`;
        badRows.push({ line: lineNumber, reason: corruption.reason });
        bad++;
        continue;
      }
      if (r < badRate + duplicateRate && recent.length > 0) {
        csv += `${pick(recent)}\n`;
        duplicates++;
        continue;
      }
      const event = nextEvent(now);
      const row = line(event);
      csv += `${row}\n`;
      validIds.push(event.fields[0] as string);
      if (recent.length < RECENT_MAX) recent.push(row);
      else recent[recentNext++ % RECENT_MAX] = row;
    }
    return { csv, events: count, bad, duplicates, validIds, badRows };
  }

  return { seed, batch };
}

/** How generated objects may be compressed. */
export type Compression = 'gzip' | 'zstd';

/** Date-partitioned key for a new object: `<prefix>YYYY/MM/DD/HH/<time>-<id>.csv`. */
export function objectKey(prefix: string, at: Date, id: string, compress?: Compression): string {
  const iso = at.toISOString();
  const [date, time] = iso.split('T') as [string, string];
  const [y, m, d] = date.split('-');
  const stamp = time.replace(/[:.]/g, '').replace('Z', '');
  const suffix = compress === 'gzip' ? '.csv.gz' : compress === 'zstd' ? '.csv.zst' : '.csv';
  return `${prefix}${y}/${m}/${d}/${time.slice(0, 2)}/${date.replace(/-/g, '')}T${stamp}Z-${id}${suffix}`;
}
