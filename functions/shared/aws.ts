import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { optionalEnv } from './env.ts';

/** Where the functions' AWS clients connect; unset fields keep the SDK's defaults. */
export interface AwsClientOptions {
  /** An emulator's endpoint (LocalStack, the embedded endpoint); unset on AWS. */
  endpoint?: string | undefined;
  region?: string | undefined;
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

const common = (o: AwsClientOptions) => ({
  ...(o.endpoint ? { endpoint: o.endpoint } : {}),
  ...(o.region ? { region: o.region } : {}),
  ...(o.credentials ? { credentials: o.credentials } : {}),
  // Retries with backoff absorb brief throttling/5xx before we fall back to SQS redelivery.
  maxAttempts: 4,
});

/**
 * S3 client of a function. With an emulator's endpoint it uses path-style URLs (emulators have no
 * wildcard DNS for bucket hosts).
 */
export function createS3Client(options: AwsClientOptions = {}): S3Client {
  return new S3Client({ ...common(options), ...(options.endpoint ? { forcePathStyle: true } : {}) });
}

/** SQS client of a function. The explicit endpoint matters: emulated queue URLs name hosts that do not resolve. */
export function createSqsClient(options: AwsClientOptions = {}): SQSClient {
  return new SQSClient(common(options));
}

/**
 * {@link createS3Client} as a deployed function is configured: on AWS nothing is set and the SDK's
 * defaults apply; on LocalStack `AWS_ENDPOINT_URL` points at the emulator.
 */
export function s3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  return createS3Client({ endpoint: optionalEnv('AWS_ENDPOINT_URL', env) });
}

/** {@link createSqsClient} from the environment; see {@link s3Client}. */
export function sqsClient(env: NodeJS.ProcessEnv = process.env): SQSClient {
  return createSqsClient({ endpoint: optionalEnv('AWS_ENDPOINT_URL', env) });
}
