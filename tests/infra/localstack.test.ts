import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../infra/paths.ts';
import { localstackContextArgs } from '../../scripts/ops/localstack/env.ts';
import { synthPipeline } from './synth.ts';

/** Template assertions only: skip CDK's built-in CloudFormation validation (see SynthOptions). */
const FAST = { cfnValidation: false } as const;

const run = promisify(execFile);
const composeFile = path.join(ROOT, 'docker-compose.localstack.yml');

/** The `-c key=value` pairs the deploy script passes, as a context object. */
function deployContext(): Record<string, string> {
  const args = localstackContextArgs();
  const context: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const [key, ...value] = (args[i + 1] ?? '').split('=');
    context[key as string] = value.join('=');
  }
  return context;
}

/** Why the end-to-end LocalStack run cannot or should not happen here; undefined when it can. */
function smokeSkipReason(): string | undefined {
  const docker = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 15_000 });
  if (docker.error || docker.status !== 0) return 'no Docker engine is running (`docker info` failed)';
  const compose = spawnSync('docker', ['compose', 'version'], { stdio: 'ignore', timeout: 15_000 });
  if (compose.error || compose.status !== 0) return 'the docker compose plugin is missing';
  if (process.env.LOCALSTACK_SMOKE !== '1') {
    return 'set LOCALSTACK_SMOKE=1 to run it (it starts containers and deploys for several minutes)';
  }
  return undefined;
}

describe('LocalStack', () => {
  it('the deploy script synthesizes the LocalStack variant: no RDS/proxy/VPC/secret, notification on the bucket', () => {
    const context = deployContext();
    expect(context).toMatchObject({
      localstack: 'true',
      databaseUrl: expect.stringContaining('@postgres:5432/'),
    });
    const synth = synthPipeline(context, FAST);
    try {
      const t = synth.template;
      for (const type of [
        'AWS::RDS::DBInstance',
        'AWS::RDS::DBProxy',
        'AWS::EC2::VPC',
        'AWS::SecretsManager::Secret',
      ]) {
        t.resourceCountIs(type, 0);
      }
      t.resourceCountIs('Custom::S3BucketNotifications', 0);
      t.hasResourceProperties('AWS::S3::Bucket', {
        NotificationConfiguration: { QueueConfigurations: [{}, {}, {}] },
      });
      // The generator's schedule and reconciliation's.
      t.resourceCountIs('AWS::Events::Rule', 2);
      t.resourceCountIs('AWS::Scheduler::Schedule', 0);
    } finally {
      synth.dispose();
    }
  }, 60_000);

  const skip = smokeSkipReason();
  if (skip) console.warn(`[LocalStack smoke test] skipped: ${skip}`);

  it.skipIf(skip !== undefined)(
    'deploys with cdklocal and ingests a CSV end to end (compose up → deploy → smoke)',
    async () => {
      const opts = { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 };
      await run('docker', ['compose', '-f', composeFile, 'up', '-d', '--wait'], {
        ...opts,
        timeout: 300_000,
      });
      try {
        await run('npm', ['run', 'localstack:deploy'], { ...opts, timeout: 900_000 });
        const { stdout } = await run('npm', ['run', 'localstack:smoke'], { ...opts, timeout: 600_000 });
        console.info(stdout);
        expect(stdout).toContain('SMOKE OK');
      } finally {
        if (process.env.LOCALSTACK_KEEP !== '1') {
          await run('docker', ['compose', '-f', composeFile, 'down', '-v'], { ...opts, timeout: 120_000 });
        }
      }
    },
    1_800_000,
  );
});
