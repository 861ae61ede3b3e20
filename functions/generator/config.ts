import { numberEnv, optionalEnv, requireEnv } from '../shared/env.ts';
import type { Compression } from './generate.ts';

/** What the generator writes and where. */
export interface GeneratorConfig {
  bucket: string;
  /** Key prefix; objects go to `<prefix>YYYY/MM/DD/HH/…csv`. */
  prefix: string;
  eventsPerObject: number;
  /** Share of deliberately bad rows, 0–1. */
  badRate: number;
  /** Share of repeated event_ids (also across objects), 0–1. */
  duplicateRate: number;
  /** Seed for reproducible data; unset, every container draws its own. */
  seed?: number;
  /** Write gzip or zstd objects (`.csv.gz`, `.csv.zst`) instead of plain CSV. */
  compress?: Compression;
}

/**
 * The generator configuration of a deployed function: `BUCKET_NAME` (required), `KEY_PREFIX`
 * (default `events/`), `EVENTS_PER_OBJECT` (default 1000), `BAD_RATE` and `DUPLICATE_RATE`
 * (default 0), `SEED` (optional), `COMPRESS` (gzip or zstd; optional). Throws an error naming the
 * variable that is missing or wrong.
 */
export function readGeneratorConfig(env: NodeJS.ProcessEnv): GeneratorConfig {
  const seed = optionalEnv('SEED', env);
  const compress = optionalEnv('COMPRESS', env);
  if (compress !== undefined && compress !== 'gzip' && compress !== 'zstd')
    throw new Error(`Environment variable COMPRESS must be gzip or zstd, got "${compress}"`);
  return {
    bucket: requireEnv('BUCKET_NAME', env),
    prefix: optionalEnv('KEY_PREFIX', env) ?? 'events/',
    eventsPerObject: numberEnv('EVENTS_PER_OBJECT', 1000, env),
    badRate: numberEnv('BAD_RATE', 0, env),
    duplicateRate: numberEnv('DUPLICATE_RATE', 0, env),
    ...(seed !== undefined ? { seed: numberEnv('SEED', 0, env) } : {}),
    ...(compress ? { compress } : {}),
  };
}
