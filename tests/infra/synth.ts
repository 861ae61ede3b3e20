import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { addPipeline, cdkJsonContext } from '../../infra/build.ts';
import type { PipelineStack } from '../../infra/stack.ts';

/** Context of the LocalStack deployment (what `npm run localstack:deploy` passes). */
export const localstackContext = {
  localstack: 'true',
  databaseUrl: 'postgres://pipeline:pipeline@postgres:5432/pipeline',
};

/** One synthesized pipeline app. `dispose()` removes its temporary cloud assembly. */
export interface Synthesized {
  app: App;
  stack: PipelineStack;
  template: Template;
  outdir: string;
  dispose(): void;
}

/** Options of {@link synthPipeline}. */
export interface SynthOptions {
  /** Bundle the functions with esbuild (default false: template assertions do not need the code). */
  bundle?: boolean;
  /**
   * Run CDK's built-in CloudFormation schema validation, as `cdk synth` does (default true). It only
   * ever warns and costs seconds per synth of the VPC-heavy template, so files that synthesize many
   * variants for template assertions turn it off; the cdk-nag and bundling tests keep it.
   */
  cfnValidation?: boolean;
}

/**
 * Build the app the way `infra/app.ts` does (same builder, same cdk.json flags, cdk-nag registered)
 * and synthesize it into a temporary directory.
 */
export function synthPipeline(
  context: Record<string, unknown> = {},
  options: SynthOptions = {},
): Synthesized {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'pipeline-cdk-test-'));
  const app = new App({
    outdir,
    context: {
      ...cdkJsonContext(),
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...context,
    },
  });
  const stack = addPipeline(app);
  // Template.fromStack synthesizes the whole app, which also runs the cdk-nag validation plugin
  // (CDK_VALIDATION only switches off the built-in CloudFormation one, not registered plugins).
  const saved = process.env.CDK_VALIDATION;
  if (options.cfnValidation === false) process.env.CDK_VALIDATION = 'false';
  let template: Template;
  try {
    template = Template.fromStack(stack);
  } finally {
    if (saved === undefined) delete process.env.CDK_VALIDATION;
    else process.env.CDK_VALIDATION = saved;
  }
  return { app, stack, template, outdir, dispose: () => rmSync(outdir, { recursive: true, force: true }) };
}

/** A CloudFormation resource as the assertions library returns it. */
export interface CfnResourceJson {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}

/** The single resource of a type matching `props`, with its logical id; throws unless exactly one. */
export function onlyResource(
  template: Template,
  type: string,
  props: Record<string, unknown> = {},
): { id: string; resource: CfnResourceJson } {
  const found = Object.entries(template.findResources(type, props ? { Properties: props } : undefined)) as [
    string,
    CfnResourceJson,
  ][];
  if (found.length !== 1) throw new Error(`Expected exactly one ${type}, found ${found.length}`);
  const [id, resource] = found[0] as [string, CfnResourceJson];
  return { id, resource };
}

/** The logical id of the function whose `POWERTOOLS_SERVICE_NAME` ends with `-<name>`. */
export function functionId(
  template: Template,
  name: 'generator' | 'ingest' | 'migrate' | 'reconcile',
): string {
  const all = template.findResources('AWS::Lambda::Function') as Record<string, CfnResourceJson>;
  for (const [id, fn] of Object.entries(all)) {
    const env = (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables;
    if (typeof env?.POWERTOOLS_SERVICE_NAME === 'string' && env.POWERTOOLS_SERVICE_NAME.endsWith(`-${name}`))
      return id;
  }
  throw new Error(`No ${name} function in the template`);
}

/** Environment variables of one of our functions. */
export function functionEnv(
  template: Template,
  name: 'generator' | 'ingest' | 'migrate' | 'reconcile',
): Record<string, unknown> {
  const fn = template.toJSON().Resources[functionId(template, name)] as CfnResourceJson;
  const environment = fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined;
  return environment?.Variables ?? {};
}
