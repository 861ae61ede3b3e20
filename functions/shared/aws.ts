import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { optionalEnv } from './env.ts';

/**
 * AWS SDK clients configured from the environment. On AWS nothing is set and the SDK's defaults
 * apply. Locally and on LocalStack `AWS_ENDPOINT_URL` points at the emulator: S3 then needs path-style
 * URLs (no wildcard DNS for bucket hosts) and SQS needs the explicit endpoint because emulated queue
 * URLs name hosts that do not resolve.
 */
export function s3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  const endpoint = optionalEnv('AWS_ENDPOINT_URL', env);
  return new S3Client({
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    // Retries with backoff absorb brief throttling/5xx before we fall back to SQS redelivery.
    maxAttempts: 4,
  });
}

/** SQS client; see {@link s3Client} for the endpoint rules. */
export function sqsClient(env: NodeJS.ProcessEnv = process.env): SQSClient {
  const endpoint = optionalEnv('AWS_ENDPOINT_URL', env);
  return new SQSClient({ ...(endpoint ? { endpoint } : {}), maxAttempts: 4 });
}
