import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localstackContext, type Synthesized, synthPipeline } from './synth.ts';

/** Template assertions only: skip CDK's built-in CloudFormation validation (see SynthOptions). */
const FAST = { cfnValidation: false } as const;

/** `{ resource type: rules }` for every resource whose metadata switches cfn-lint rules off. */
function perResourceIgnores(template: Template): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const resources = template.toJSON().Resources as Record<string, { Type: string; Metadata?: unknown }>;
  for (const resource of Object.values(resources)) {
    const meta = resource.Metadata as { 'cfn-lint'?: { config?: { ignore_checks?: string[] } } } | undefined;
    const checks = meta?.['cfn-lint']?.config?.ignore_checks;
    if (checks) out[resource.Type] = [...(out[resource.Type] ?? []), ...checks];
  }
  return out;
}

/**
 * What `npm run lint:cfn` is allowed to skip: W3005 (CDK's redundant DependsOn) for the whole
 * template, and E3002 on the two resource types whose Tags cfn-lint's schema does not know yet.
 * Any other suppression must be added here on purpose, next to its evidence in the stack code.
 */
describe('cfn-lint settings in the template', { timeout: 60_000 }, () => {
  let aws: Synthesized;
  let localstack: Synthesized;
  beforeAll(() => {
    aws = synthPipeline({}, FAST);
    localstack = synthPipeline(localstackContext, FAST);
  }, 60_000);
  afterAll(() => {
    aws?.dispose();
    localstack?.dispose();
  });

  it('ignores only W3005 template-wide', () => {
    for (const { template } of [aws, localstack]) {
      expect(template.toJSON().Metadata).toEqual({ 'cfn-lint': { config: { ignore_checks: ['W3005'] } } });
    }
  });

  it('ignores E3002 on the dashboard and the RDS Proxy target group only', () => {
    expect(perResourceIgnores(aws.template)).toEqual({
      'AWS::CloudWatch::Dashboard': ['E3002'],
      'AWS::RDS::DBProxyTargetGroup': ['E3002'],
    });
    expect(perResourceIgnores(localstack.template)).toEqual({ 'AWS::CloudWatch::Dashboard': ['E3002'] });
  });
});
