/**
 * CDK entry point (`cdk.json` → `npx tsx infra/app.ts`).
 *
 * The stack is environment-agnostic: no account/region is baked in and no context lookups are made,
 * so `cdk synth` works offline without credentials, and `cdk deploy` targets whatever account and
 * region the CLI's credentials name. Options come from context, e.g.
 * `-c databaseUrl=postgres://… -c localstack=true -c schedule=false -c removalPolicy=destroy`.
 */
import { App } from 'aws-cdk-lib';
import { addPipeline } from './build.ts';

const app = new App();
addPipeline(app);
app.synth();
