import type { Context, ScheduledEvent, SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readGeneratorConfig } from '../../functions/generator/config.ts';
import { objectKey } from '../../functions/generator/generate.ts';
import { handler as generatorHandler } from '../../functions/generator/handler.ts';
import {
  DEFAULT_CHUNK_ROWS,
  DEFAULT_MAX_REJECT_RATIO,
  readIngestConfig,
} from '../../functions/ingest/config.ts';
import { handler as ingestHandler } from '../../functions/ingest/handler.ts';
import { readMigrateConfig } from '../../functions/migrate/handler.ts';
import { RECONCILE_DEFAULTS, readReconcileConfig } from '../../functions/reconcile/config.ts';
import { handler as reconcileHandler } from '../../functions/reconcile/handler.ts';
import { reconcileStaleSeconds, topology } from '../../infra/topology.ts';

/**
 * Each function reads its configuration from the environment the CDK stack sets, and a wrong
 * setting fails with an error naming the variable.
 */
describe('ingest configuration', () => {
  const B = { BUCKETS: 'events-bucket' };
  it('takes DLQ_URL and QUEUE_URL when set, and nothing when not', () => {
    const defaults = {
      buckets: ['events-bucket'],
      afterIngest: 'keep',
      archivePrefix: 'archive/',
      chunkRows: DEFAULT_CHUNK_ROWS,
      maxRejectRatio: DEFAULT_MAX_REJECT_RATIO,
    };
    expect(readIngestConfig(B)).toEqual(defaults);
    expect(
      readIngestConfig({
        ...B,
        DLQ_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/dlq',
        QUEUE_URL: 'http://127.0.0.1:4566/000000000000/queue',
      }),
    ).toEqual({
      ...defaults,
      dlqUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/dlq',
      queueUrl: 'http://127.0.0.1:4566/000000000000/queue',
    });
  });

  it('defaults the chunk size and reject budget to the topology, and checks them', () => {
    expect(DEFAULT_CHUNK_ROWS).toBe(topology.ingest.chunkRows);
    expect(DEFAULT_MAX_REJECT_RATIO).toBe(topology.ingest.maxRejectRatio);
    expect(
      readIngestConfig({
        ...B,
        INGEST_CHUNK_ROWS: '1000',
        MAX_REJECT_RATIO: '1',
        DEADLINE_RESERVE_MS: '500',
      }),
    ).toMatchObject({
      chunkRows: 1000,
      maxRejectRatio: 1,
      reserveMs: 500,
    });
    expect(() => readIngestConfig({ ...B, INGEST_CHUNK_ROWS: '0' })).toThrow(/INGEST_CHUNK_ROWS/);
    expect(() => readIngestConfig({ ...B, MAX_REJECT_RATIO: '1.5' })).toThrow(/MAX_REJECT_RATIO/);
  });

  it('requires the buckets it may ingest from, and takes a list', () => {
    expect(() => readIngestConfig({})).toThrow(/BUCKETS is required/);
    expect(readIngestConfig({ BUCKETS: ' a , b,' }).buckets).toEqual(['a', 'b']);
  });

  it('names the variable that is not a URL', () => {
    expect(() => readIngestConfig({ ...B, DLQ_URL: 'ingest-dlq' })).toThrow(
      /DLQ_URL must be an http\(s\) URL/,
    );
    expect(() => readIngestConfig({ ...B, QUEUE_URL: 'ftp://x/y' })).toThrow(/QUEUE_URL/);
  });
});

describe('generator configuration', () => {
  it('requires BUCKET_NAME and defaults the rest', () => {
    expect(() => readGeneratorConfig({})).toThrow(/BUCKET_NAME is required/);
    expect(readGeneratorConfig({ BUCKET_NAME: 'b' })).toEqual({
      bucket: 'b',
      prefix: 'events/',
      eventsPerObject: 1000,
      badRate: 0,
      duplicateRate: 0,
    });
    expect(
      readGeneratorConfig({
        BUCKET_NAME: 'b',
        KEY_PREFIX: 'in/',
        EVENTS_PER_OBJECT: '50',
        BAD_RATE: '0.1',
        DUPLICATE_RATE: '0.2',
        SEED: '7',
      }),
    ).toEqual({ bucket: 'b', prefix: 'in/', eventsPerObject: 50, badRate: 0.1, duplicateRate: 0.2, seed: 7 });
  });

  it('writes compressed objects when told, and names a wrong COMPRESS', () => {
    expect(readGeneratorConfig({ BUCKET_NAME: 'b', COMPRESS: 'zstd' })).toMatchObject({ compress: 'zstd' });
    expect(() => readGeneratorConfig({ BUCKET_NAME: 'b', COMPRESS: 'zip' })).toThrow(
      /COMPRESS must be gzip or zstd/,
    );
    const at = new Date('2026-11-26T13:05:00.123Z');
    expect(objectKey('events/', at, 'x', 'gzip')).toBe('events/2026/11/26/13/20261126T130500123Z-x.csv.gz');
    expect(objectKey('events/', at, 'x', 'zstd')).toMatch(/\.csv\.zst$/);
    expect(objectKey('events/', at, 'x')).toMatch(/-x\.csv$/);
  });

  it('names a variable that is not a number', () => {
    expect(() => readGeneratorConfig({ BUCKET_NAME: 'b', EVENTS_PER_OBJECT: 'many' })).toThrow(
      /EVENTS_PER_OBJECT must be a number/,
    );
    expect(() => readGeneratorConfig({ BUCKET_NAME: 'b', SEED: 'x' })).toThrow(/SEED must be a number/);
  });
});

describe('reconcile configuration', () => {
  const required = { BUCKET_NAME: 'b', QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q' };

  it('requires BUCKET_NAME and QUEUE_URL and defaults the rest to the topology', () => {
    expect(RECONCILE_DEFAULTS).toEqual({
      prefix: topology.notification.prefix,
      suffixes: topology.notification.suffixes,
      graceSeconds: topology.reconcile.graceSeconds,
      staleSeconds: reconcileStaleSeconds(),
      maxObjects: topology.reconcile.maxObjectsPerRun,
      maxNotifications: topology.reconcile.maxNotificationsPerRun,
    });
    expect(readReconcileConfig({ ...required, AWS_REGION: 'eu-west-1' })).toEqual({
      bucket: 'b',
      queueUrl: required.QUEUE_URL,
      prefix: 'events/',
      suffixes: ['.csv', '.csv.gz', '.csv.zst'],
      graceSeconds: 300,
      staleSeconds: 722,
      maxObjects: 50_000,
      maxNotifications: 5_000,
      region: 'eu-west-1',
    });
    expect(
      readReconcileConfig({
        ...required,
        KEY_PREFIX: 'in/',
        KEY_SUFFIXES: '.csv, .tsv',
        RECONCILE_GRACE_SECONDS: '0',
        RECONCILE_MAX_OBJECTS: '10',
      }),
    ).toMatchObject({ prefix: 'in/', suffixes: ['.csv', '.tsv'], graceSeconds: 0, maxObjects: 10 });
    expect(() => readReconcileConfig({ QUEUE_URL: required.QUEUE_URL })).toThrow(/BUCKET_NAME is required/);
    expect(() => readReconcileConfig({ BUCKET_NAME: 'b' })).toThrow(/QUEUE_URL is required/);
  });

  it('names a variable that is set wrong', () => {
    expect(() => readReconcileConfig({ ...required, QUEUE_URL: 'queue' })).toThrow(
      /QUEUE_URL must be an http/,
    );
    expect(() => readReconcileConfig({ ...required, KEY_SUFFIXES: ' , ' })).toThrow(/KEY_SUFFIXES/);
    expect(() => readReconcileConfig({ ...required, RECONCILE_MAX_OBJECTS: '0' })).toThrow(
      /RECONCILE_MAX_OBJECTS must be an integer ≥ 1/,
    );
    expect(() => readReconcileConfig({ ...required, RECONCILE_GRACE_SECONDS: '-1' })).toThrow(
      /RECONCILE_GRACE_SECONDS/,
    );
  });
});

describe('migrate configuration', () => {
  it('finds sql/ and reads the connect deadline', () => {
    expect(readMigrateConfig({})).toEqual({
      migrationsDir: expect.stringMatching(/sql$/),
      connectDeadlineMs: 90_000,
    });
    expect(() => readMigrateConfig({ MIGRATE_CONNECT_DEADLINE_MS: 'soon' })).toThrow(
      /MIGRATE_CONNECT_DEADLINE_MS/,
    );
  });
});

describe('the deployed entry points', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  const context = { functionName: 'test', awsRequestId: 'config-test' } as unknown as Context;

  it('fail with the name of a missing or wrong variable, and try again on the next invocation', async () => {
    vi.stubEnv('BUCKET_NAME', '');
    await expect(generatorHandler({} as ScheduledEvent, context)).rejects.toThrow(/BUCKET_NAME/);
    vi.stubEnv('BUCKETS', 'events-bucket');
    vi.stubEnv('DLQ_URL', 'not a url');
    await expect(ingestHandler({ Records: [] } as SQSEvent, context)).rejects.toThrow(/DLQ_URL/);
    vi.stubEnv('DLQ_URL', 'also not a url');
    await expect(ingestHandler({ Records: [] } as SQSEvent, context)).rejects.toThrow(/also not a url/);
    vi.stubEnv('QUEUE_URL', '');
    await expect(reconcileHandler({} as ScheduledEvent, context)).rejects.toThrow(/QUEUE_URL is required/);
  });
});
