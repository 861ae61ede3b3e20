/**
 * `npm run localstack:deploy [-- <extra cdk args>]`: bootstrap LocalStack and deploy the stack to it
 * with cdklocal, in LocalStack mode (external database, notification on the bucket itself).
 *
 * Prerequisite: `docker compose -f docker-compose.localstack.yml up -d --wait`.
 * Outputs are written to cdk.out/localstack-outputs.json (cdk.out is git-ignored).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../../../infra/paths.ts';
import { localstack, localstackContextArgs, localstackCredentials, waitForLocalStack } from './env.ts';

const cdklocal = path.join(ROOT, 'node_modules', '.bin', 'cdklocal');
/** Where `cdk deploy --outputs-file` writes the stack outputs (smoke.ts asks CloudFormation instead). */
const outputsFile = path.join(ROOT, 'cdk.out', 'localstack-outputs.json');

/**
 * Environment for cdklocal. It drops every AWS_* variable except the endpoints and the allow-listed
 * ones, so a developer's real profile can never leak into a LocalStack deploy; the endpoints point
 * at 127.0.0.1 (cdklocal would otherwise use localhost.localstack.cloud, a public DNS name).
 */
function cdklocalEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ENDPOINT_URL: localstack.endpoint,
    AWS_ENDPOINT_URL_S3: localstack.endpoint,
    AWS_REGION: localstack.region,
    AWS_DEFAULT_REGION: localstack.region,
    AWS_ACCESS_KEY_ID: localstackCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: localstackCredentials.secretAccessKey,
    AWS_ENVAR_ALLOWLIST: 'AWS_REGION,AWS_DEFAULT_REGION',
    CDK_DISABLE_VERSION_CHECK: '1',
  };
}

function run(args: string[]): Promise<void> {
  console.log(`\n$ cdklocal ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(cdklocal, args, { cwd: ROOT, env: cdklocalEnv(), stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`cdklocal ${args[0]} failed (${signal ?? `exit ${code}`})`)),
    );
  });
}

async function main(): Promise<void> {
  const extra = process.argv.slice(2);
  console.log(`Waiting for LocalStack at ${localstack.endpoint} …`);
  await waitForLocalStack();
  await run(['bootstrap', `aws://${localstack.account}/${localstack.region}`, ...localstackContextArgs()]);
  await run([
    'deploy',
    '--require-approval',
    'never',
    '--outputs-file',
    outputsFile,
    ...localstackContextArgs(),
    ...extra,
  ]);
  console.log(
    `\nDeployed ${localstack.stackName} to LocalStack; outputs in ${path.relative(ROOT, outputsFile)}.`,
  );
  console.log('Next: npm run localstack:smoke');
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
