import type { CfnResource, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Database } from './database.ts';

/**
 * Rules switched off for the whole template, each with its reason.
 *
 * W3005 (a `DependsOn` already implied by a `Ref`/`GetAtt`): every occurrence is written by CDK
 * itself (a function's `DependsOn` on its role and default policy, the notification custom
 * resource's on the queue, CDK's provider functions' on their roles). Redundant dependencies are
 * harmless to CloudFormation, and the code that writes them is not ours to change.
 */
const templateWideIgnores = ['W3005'] as const;

/** Switch off cfn-lint rules on one resource only, through its `Metadata.cfn-lint` entry. */
export function ignoreOnResource(resource: CfnResource, checks: readonly string[]): void {
  resource.addMetadata('cfn-lint', { config: { ignore_checks: [...checks] } });
}

/** The resources whose cfn-lint findings are accepted: the linter's schema, not the template, is stale. */
export interface LintedParts {
  stack: Stack;
  dashboard: cloudwatch.Dashboard;
  /** Present in the default mode only. */
  database?: Database | undefined;
}

/**
 * Every cfn-lint finding the pipeline accepts, per resource, with the evidence that the template
 * is right. `npm run lint:cfn` fails on anything else.
 */
export function acceptLintFindings(p: LintedParts): void {
  p.stack.templateOptions.metadata = {
    ...p.stack.templateOptions.metadata,
    'cfn-lint': { config: { ignore_checks: [...templateWideIgnores] } },
  };
  // E3002 "'Tags' was unexpected" on AWS::CloudWatch::Dashboard. The resource does take tags:
  // aws-cdk-lib's L1 class CfnDashboard implements ITaggableV2 and CfnDashboardProps declares
  // `tags?: Array<CfnTag>`, documented as "A list of key-value pairs to associate with the cloudwatch
  // dashboard. You can associate up to 50 tags with a dashboard" (aws-cloudwatch/lib/
  // cloudwatch.generated.d.ts, linking the CloudFormation reference's #cfn-cloudwatch-dashboard-tags).
  // cfn-lint's bundled schema for the type lists only DashboardBody and DashboardName. The tags
  // come from the stack-wide `project` tag.
  ignoreOnResource(p.dashboard.node.defaultChild as CfnResource, ['E3002']);
  if (p.database) {
    // E3002 "'Tags' was unexpected" on AWS::RDS::DBProxyTargetGroup, for the same reason: the L1
    // class CfnDBProxyTargetGroup implements ITaggableV2 and CfnDBProxyTargetGroupProps declares
    // `tags?: Array<CfnTag>`, "An array of key-value pairs to apply to this resource."
    // (aws-rds/lib/rds.generated.d.ts, #cfn-rds-dbproxytargetgroup-tags), while cfn-lint's bundled
    // schema lists ConnectionPoolConfigurationInfo, DBClusterIdentifiers, DBInstanceIdentifiers,
    // DBProxyName, TargetGroupArn and TargetGroupName only.
    ignoreOnResource(p.database.proxyTargetGroup, ['E3002']);
  }
}
