import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from './config.ts';
import { PipelineStack } from './stack.ts';

/** Default stack name; override with `-c stackName=…` to deploy a second copy into one account. */
export const DEFAULT_STACK_NAME = 'EcommercePipeline';

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
