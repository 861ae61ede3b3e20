import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type LocalPipeline, startLocalPipeline } from '../../scripts/local/runtime.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { untilStatus } from '../helpers/wait.ts';

let db: TestDatabase;
let pipeline: LocalPipeline;
let sqs: SQSClient;

beforeAll(async () => {
  db = await freshDatabase();
  pipeline = await startLocalPipeline({
    port: 0,
    databaseUrl: db.url,
    generator: { intervalMs: 0, eventsPerObject: 50 },
    ingest: { batchingWindowMs: 50 },
    resources: { bucket: 'poison-bucket', queue: 'poison-queue', dlq: 'poison-dlq' },
  });
  sqs = new SQSClient({
    endpoint: pipeline.endpointUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
});
afterAll(async () => {
  sqs?.destroy();
  await pipeline?.stop();
  await db?.drop();
});

it('a non-JSON body and an s3:TestEvent neither crash the poller nor block the objects behind them', async () => {
  const queueUrl = pipeline.resources.queueUrl;
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '<<this is not json>>' }));
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'poison-bucket' }),
    }),
  );
  await pipeline.generateOnce();
  await pipeline.generateOnce();

  const s = await untilStatus(
    pipeline,
    (st) => st.objectsIngested === 2 && st.queueDepth === 0 && st.inFlight === 0 && st.dlqDepth === 1,
  );
  expect(s.rowsInserted + s.rowsDuplicate + s.rowsRejected).toBe(100);
  expect(pipeline.poller.stats.handlerErrors).toBe(0);

  const dead = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: pipeline.resources.dlqUrl,
      MessageAttributeNames: ['All'],
      WaitTimeSeconds: 1,
    }),
  );
  expect(dead.Messages?.map((m) => m.Body)).toEqual(['<<this is not json>>']);
  expect(dead.Messages?.[0]?.MessageAttributes?.reason?.StringValue).toMatch(/not JSON/);
});
