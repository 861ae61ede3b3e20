/**
 * `npm run lint:cfn`: synthesize every variant of the stack and check each template with cfn-lint,
 * the CloudFormation linter (a Python tool: `pip install cfn-lint`; it must be on PATH).
 *
 * The variants are built in-process through the same builder and `cdk.json` flags as `cdk synth`,
 * with bundling skipped: bundles only change asset hashes in a template, and `npm run synth` builds
 * them anyway. Findings the pipeline accepts are declared in `infra/constructs/cfn-lint.ts`, inside
 * the templates themselves, so running cfn-lint by hand on `cdk.out/` gives the same answer.
 *
 * Exits with cfn-lint's status: 0 only when no variant has an error or a warning. The templates are
 * kept (and their folder printed) when something is found.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { addPipeline, cdkJsonContext } from './build.ts';

/** An external database as the LocalStack deploy names it; any postgres:// URL would do. */
const externalDatabaseUrl = 'postgres://pipeline:pipeline@postgres:5432/pipeline';

/** Every combination of context that changes which resources the template holds. */
const variants: Record<string, Record<string, string>> = {
  // RDS, proxy, VPC and secret; data retained.
  'aws-rds': {},
  // Adds the auto-delete custom resource and the alarms' SNS topic and subscription.
  'aws-rds-disposable-alarm-email': { removalPolicy: 'destroy', alarmEmail: 'ops@example.com' },
  // No VPC or RDS; DATABASE_URL instead.
  'external-database': { databaseUrl: externalDatabaseUrl },
  // As above, with the notification configured on the bucket itself.
  localstack: { localstack: 'true', databaseUrl: externalDatabaseUrl },
};

const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
if (version.error || version.status !== 0) {
  console.error('cfn-lint is not on PATH: install it with `pip install cfn-lint` (or pipx), then run again.');
  process.exit(1);
}

const root = mkdtempSync(path.join(os.tmpdir(), 'pipeline-cfn-lint-'));
const templates: string[] = [];
for (const [name, context] of Object.entries(variants)) {
  const outdir = path.join(root, name);
  mkdirSync(outdir);
  const app = new App({
    outdir,
    context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...context },
  });
  const stack = addPipeline(app);
  templates.push(app.synth().getStackByName(stack.stackName).templateFullPath);
}

console.log(`${version.stdout.trim()} on ${templates.length} variants: ${Object.keys(variants).join(', ')}`);
const lint = spawnSync('cfn-lint', ['--', ...templates], { stdio: 'inherit' });
if (lint.status === 0) {
  console.log('cfn-lint: no errors or warnings');
  rmSync(root, { recursive: true, force: true });
} else {
  console.error(`cfn-lint exited with ${lint.status ?? lint.signal}; templates kept in ${root}`);
}
process.exit(lint.status ?? 1);
