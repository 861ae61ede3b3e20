import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { deploySettings } from '../config.ts';
import { ROOT } from '../paths.ts';
import { topology } from '../topology.ts';

/** The pipeline's functions; each is built from `functions/<name>/handler.ts`, which exports `handler`. */
export type FunctionName = 'generator' | 'ingest' | 'migrate' | 'reconcile';

/** The entry file of a function, relative to the repository root. */
export function handlerEntry(name: FunctionName): string {
  return `functions/${name}/handler.ts`;
}

/** Props of {@link PipelineFunction}: a NodejsFunction's, minus what every pipeline function shares. */
export interface PipelineFunctionProps
  extends Omit<
    nodejs.NodejsFunctionProps,
    'entry' | 'handler' | 'code' | 'bundling' | 'runtime' | 'architecture' | 'logGroup' | 'loggingFormat'
  > {
  /** Which handler to build. */
  name: FunctionName;
  /** The function's own variables; the metrics namespace and source-map switch are added to them. */
  environment: Record<string, string>;
  /** What happens to the function's log group when the stack is deleted. */
  logRemovalPolicy: RemovalPolicy;
  /** Shell commands run after esbuild, e.g. to copy files next to the bundle. */
  afterBundling?: (inputDir: string, outputDir: string) => string[];
}

/**
 * A Node.js 24 arm64 function bundled by the local esbuild (never Docker) into one ESM file with a
 * source map, logging JSON into a log group of its own, so retention and removal are the stack's
 * choice rather than Lambda's defaults. The log group is created next to the function, as
 * `<id>Logs` in the same scope. A missing entry file fails the synth: there is no stand-in code.
 */
export class PipelineFunction extends nodejs.NodejsFunction {
  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    const { name, environment, logRemovalPolicy, afterBundling, ...rest } = props;
    const entry = path.join(ROOT, handlerEntry(name));
    if (!existsSync(entry)) {
      throw new Error(
        `Cannot build the ${name} function: ${handlerEntry(name)} does not exist (each function is built from functions/<name>/handler.ts exporting \`handler\`)`,
      );
    }
    super(scope, id, {
      ...rest,
      entry,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      logGroup: new logs.LogGroup(scope, `${id}Logs`, {
        retention: deploySettings.logRetentionDays,
        removalPolicy: logRemovalPolicy,
      }),
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: {
        ...environment,
        POWERTOOLS_METRICS_NAMESPACE: topology.observability.metricsNamespace,
        NODE_OPTIONS: '--enable-source-maps',
      },
      projectRoot: ROOT,
      depsLockFilePath: path.join(ROOT, 'package-lock.json'),
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.ESM,
        target: 'node24',
        // Prefer ESM entry points; CJS dependencies (pg) get a real `require` from the banner.
        mainFields: ['module', 'main'],
        banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
        minify: true,
        // Error classes are told apart by name in logs and the ledger; keep names through minify.
        keepNames: true,
        sourceMap: true,
        sourcesContent: false,
        // Ship the SDK versions we test with instead of whatever the runtime carries.
        bundleAwsSDK: true,
        // pg-native is an optional addon that pg only loads when asked to.
        externalModules: ['pg-native'],
        ...(afterBundling
          ? { commandHooks: { beforeBundling: () => [], beforeInstall: () => [], afterBundling } }
          : {}),
      },
    });
  }
}
