import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { addPipeline } from '../../infra/build.ts';
import { localstackContext, synthPipeline } from './synth.ts';

/** Every acknowledgment recorded in the construct tree: `{ path, id, reason }`. */
function acknowledgments(root: IConstruct): { path: string; id: string; reason: string }[] {
  const out: { path: string; id: string; reason: string }[] = [];
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        out.push({ path: c.node.path, id, reason });
      }
    }
  }
  return out;
}

const variants: [string, Record<string, unknown>][] = [
  ['default (RDS + proxy)', {}],
  ['default, disposable, with alarm e-mail', { removalPolicy: 'destroy', alarmEmail: 'ops@example.com' }],
  ['external database', { databaseUrl: localstackContext.databaseUrl }],
  ['LocalStack', localstackContext],
];

/**
 * cdk-nag's AWS Solutions pack is registered on the app (`Validations.of(app).addPlugins`), so a
 * synth with an unacknowledged error already throws; these tests also fail on warnings and check
 * that every acknowledgment carries a written reason.
 */
describe('cdk-nag AwsSolutionsChecks', { timeout: 60_000 }, () => {
  it.each(variants)('%s: synth passes the registered plugin and leaves no finding', (_name, context) => {
    const synth = synthPipeline(context); // throws on any unacknowledged error-level finding
    try {
      const report = new AwsSolutionsChecks().validateScope(synth.app);
      const findings = report.violations.map(
        (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      );
      expect(findings).toEqual([]);
      expect(report.success).toBe(true);
    } finally {
      synth.dispose();
    }
  });

  it('every acknowledged finding has a reason of at least a sentence', () => {
    const synth = synthPipeline(
      { removalPolicy: 'destroy', alarmEmail: 'ops@example.com' },
      { cfnValidation: false },
    );
    try {
      // CDK records its own acknowledgments too (e.g. CloudFormation-Validate::…); ours are cdk-nag's.
      const acks = acknowledgments(synth.app).filter((a) => a.id.includes('AwsSolutions-'));
      expect(acks.length).toBeGreaterThan(0);
      for (const ack of acks) {
        expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThan(40);
      }
    } finally {
      synth.dispose();
    }
  });
});

describe('cdk-nag is wired into every synth', { timeout: 60_000 }, () => {
  it('a new unacknowledged finding fails the synth', () => {
    const outdir = mkdtempSync(path.join(os.tmpdir(), 'pipeline-cdk-test-'));
    try {
      const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], ...localstackContext } });
      const stack = addPipeline(app);
      // No DLQ and no TLS enforcement: AwsSolutions-SQS3 / SQS4.
      new sqs.Queue(stack, 'CarelessQueue', { enforceSSL: false });
      expect(() => Template.fromStack(stack)).toThrow(/AwsSolutions-SQS/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
