import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from './config.ts';
import { ROOT } from './paths.ts';
import { PipelineStack } from './stack.ts';

/** Default stack name; override with `-c stackName=…` to deploy a second copy into one account. */
export const DEFAULT_STACK_NAME = 'EcommercePipeline';

/**
 * The context of `cdk.json` (CDK's feature flags), for apps built outside the CDK CLI (the tests,
 * `npm run lint:cfn`) so they synthesize exactly what `cdk synth` does.
 */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/**
 * Add the pipeline stack to an app, configured from the app's context, and register cdk-nag's
 * AWS Solutions checks so that every synth (CLI or tests) fails on an unacknowledged finding.
 * `infra/app.ts` and the tests build the app through this one function.
 */
export function addPipeline(app: App): PipelineStack {
  const config = configFromContext(app.node);
  const stackName: unknown = app.node.tryGetContext('stackName');
  const stack = new PipelineStack(
    app,
    typeof stackName === 'string' && stackName ? stackName : DEFAULT_STACK_NAME,
    {
      config,
    },
  );
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}
