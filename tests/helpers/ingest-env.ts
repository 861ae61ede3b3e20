import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import type { IngestDeps } from '../../functions/ingest/ingest.ts';
import type { ObjectRef } from '../../functions/ingest/s3-event.ts';
import { putObject } from '../../functions/shared/upload.ts';
import { freshDatabase, type TestDatabase } from './db.ts';
import { type TestEndpoint, testEndpoint } from './endpoint.ts';
import { recordingLogger } from './factories.ts';

/** What an ingest integration test works against: its database, endpoint and ingest dependencies. */
export interface IngestEnv {
  readonly db: TestDatabase;
  readonly aws: TestEndpoint;
  readonly deps: IngestDeps;
  /** PUT a body into the test's bucket (under a new key unless given) and return its ref with size. */
  put(body: string | Uint8Array, key?: string): Promise<ObjectRef>;
}

/**
 * A fresh database and embedded S3+SQS endpoint for one test file, with `bucket` created and ingest
 * dependencies whose clock says `now`; set up before the file's tests and torn down after them.
 * New keys are `events/2026/11/21/12/<keyPrefix>-<n>.csv`.
 */
export function ingestEnv(options: { bucket: string; now: number; keyPrefix: string }): IngestEnv {
  const { bucket, now, keyPrefix } = options;
  let db: TestDatabase | undefined;
  let aws: TestEndpoint | undefined;
  let deps: IngestDeps | undefined;
  let n = 0;
  beforeAll(async () => {
    [db, aws] = await Promise.all([freshDatabase(), testEndpoint()]);
    await aws.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    deps = { s3: aws.s3, db: db.pool, logger: recordingLogger(), clock: () => now };
  });
  afterAll(async () => {
    await aws?.stop();
    await db?.drop();
  });
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('ingestEnv is used before its beforeAll ran');
    return v;
  };
  return {
    get db() {
      return ready(db);
    },
    get aws() {
      return ready(aws);
    },
    get deps() {
      return ready(deps);
    },
    async put(body, key = `events/2026/11/21/12/${keyPrefix}-${++n}.csv`) {
      const etag = await putObject(ready(aws).s3, { bucket, key, body });
      const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
      return { bucket, key, etag, size };
    },
  };
}
