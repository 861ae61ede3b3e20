import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type EmbeddedEndpoint, startEmbeddedEndpoint } from '../../scripts/local/endpoint.ts';

/** The embedded S3+SQS endpoint on a free port, with clients pointed at it. */
export interface TestEndpoint {
  endpoint: EmbeddedEndpoint;
  s3: S3Client;
  sqs: SQSClient;
  stop(): Promise<void>;
}

export async function testEndpoint(): Promise<TestEndpoint> {
  const endpoint = await startEmbeddedEndpoint({ port: 0 });
  const common = { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  const s3 = new S3Client({ ...common, endpoint: endpoint.url, forcePathStyle: true });
  const sqs = new SQSClient({ ...common, endpoint: endpoint.url });
  return {
    endpoint,
    s3,
    sqs,
    stop: async () => {
      s3.destroy();
      sqs.destroy();
      await endpoint.stop();
    },
  };
}
