import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Where the LocalStack deployment lives, shared by `deploy.ts`, `smoke.ts` and the tests. Endpoints
 * use 127.0.0.1, not localhost.localstack.cloud: the public DNS name needs the internet and an IPv4
 * answer, 127.0.0.1 needs neither. An IP endpoint also makes the AWS SDK use path-style S3 URLs.
 */
export const localstack = {
  endpoint: process.env.LOCALSTACK_ENDPOINT ?? 'http://127.0.0.1:4566',
  region: process.env.LOCALSTACK_REGION ?? 'us-east-1',
  /** LocalStack's fixed default account. */
  account: '000000000000',
  stackName: process.env.LOCALSTACK_STACK_NAME ?? 'EcommercePipeline',
  /**
   * The database as Lambda containers see it: the compose service name on the compose network
   * (docker-compose.localstack.yml). Credentials are the compose file's throwaway ones.
   */
  lambdaDatabaseUrl:
    process.env.LOCALSTACK_LAMBDA_DATABASE_URL ?? 'postgres://pipeline:pipeline@postgres:5432/pipeline',
  /** The same database as this machine sees it (the compose port mapping on 127.0.0.1). */
  hostDatabaseUrl:
    process.env.LOCALSTACK_DATABASE_URL ??
    `postgres://pipeline:pipeline@127.0.0.1:${process.env.LOCALSTACK_PG_PORT ?? '5433'}/pipeline`,
} as const;

/** CDK context flags of the LocalStack variant (see infra/config.ts). */
export function localstackContextArgs(): string[] {
  const args = ['-c', 'localstack=true', '-c', `databaseUrl=${localstack.lambdaDatabaseUrl}`];
  if (process.env.LOCALSTACK_STACK_NAME) args.push('-c', `stackName=${localstack.stackName}`);
  return args;
}

/** Static credentials LocalStack accepts; never real ones. */
export const localstackCredentials = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

/** AWS SDK client options for LocalStack. */
export function localstackClientConfig(): {
  endpoint: string;
  region: string;
  credentials: typeof localstackCredentials;
} {
  return { endpoint: localstack.endpoint, region: localstack.region, credentials: localstackCredentials };
}

/**
 * Poll `check` until it returns a value or `deadlineMs` passes. Each failed check's reason is kept
 * so a timeout says what was last seen instead of just "timed out".
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  { timeoutMs, intervalMs = 1000 }: { timeoutMs: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not checked yet';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
      last = 'not yet';
    } catch (e: unknown) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() + intervalMs > deadline) {
      throw new Error(
        `Timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what} (last: ${last})`,
      );
    }
    await sleep(intervalMs);
  }
}

/** Services the stack needs, as named by LocalStack's health endpoint. */
const REQUIRED_SERVICES = ['cloudformation', 'iam', 'lambda', 'events', 's3', 'sqs', 'ssm', 'sts', 'logs'];

/** Wait until LocalStack answers and reports every required service available or running. */
export async function waitForLocalStack(timeoutMs = 120_000): Promise<void> {
  await waitFor(
    `LocalStack at ${localstack.endpoint}`,
    async () => {
      const res = await fetch(`${localstack.endpoint}/_localstack/health`);
      if (!res.ok) throw new Error(`health endpoint answered ${res.status}`);
      const body = (await res.json()) as { services?: Record<string, string> };
      const missing = REQUIRED_SERVICES.filter(
        (s) => !['available', 'running'].includes(body.services?.[s] ?? ''),
      );
      if (missing.length > 0) throw new Error(`services not ready: ${missing.join(', ')}`);
      return true;
    },
    { timeoutMs, intervalMs: 2000 },
  );
}
