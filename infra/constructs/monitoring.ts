import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { deploySettings } from '../config.ts';
import { topology } from '../topology.ts';

/** What the alarms and the dashboard watch. */
export interface MonitoringProps {
  queue: sqs.IQueue;
  deadLetterQueue: sqs.IQueue;
  generator: lambda.IFunction;
  ingest: lambda.IFunction;
  reconcile: lambda.IFunction;
  /** Name of the CloudWatch dashboard. */
  dashboardName: string;
  /** When set, every alarm notifies an SNS topic with this address subscribed. */
  alarmEmail?: string | undefined;
}

/** The alarms, the dashboard and (with an e-mail address) the alarms' topic. */
export interface Monitoring {
  alarms: cloudwatch.Alarm[];
  dashboard: cloudwatch.Dashboard;
  alarmTopic?: sns.Topic;
}

type Comparison = '>' | '>=';

/** One alarm: its construct id, what it watches, when it fires, and what to do about it. */
interface AlarmRow {
  id: string;
  metric: (period: Duration) => cloudwatch.IMetric;
  comparison: Comparison;
  threshold: number;
  /** Consecutive periods that must breach. */
  periods: number;
  description: string;
}

const operators: Record<Comparison, cloudwatch.ComparisonOperator> = {
  '>': cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
  '>=': cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
};

/** A metric the handlers emit as EMF, under the shared namespace and `service` dimension. */
function pipelineMetric(
  metricName: string,
  fn: 'generator' | 'ingest' | 'reconcile',
  statistic: string,
  period: Duration,
  label?: string,
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: topology.observability.metricsNamespace,
    metricName,
    dimensionsMap: { service: `${topology.observability.serviceName}-${fn}` },
    statistic,
    period,
    ...(label ? { label } : {}),
  });
}

/** The signals that mean data is not flowing or is being lost, one row per alarm. */
function alarmTable(p: MonitoringProps): AlarmRow[] {
  return [
    {
      id: 'DeadLetterQueueNotEmptyAlarm',
      metric: (period) =>
        p.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
      comparison: '>',
      threshold: 0,
      periods: 1,
      description: 'Messages reached the ingest DLQ: inspect them (docs/deploy.md) and redrive.',
    },
    {
      id: 'QueueOldestMessageAgeAlarm',
      metric: (period) => p.queue.metricApproximateAgeOfOldestMessage({ period, statistic: 'Maximum' }),
      comparison: '>=',
      threshold: deploySettings.alarms.oldestMessageAgeSeconds,
      periods: 1,
      description: 'The ingest queue is falling behind: its oldest message is too old.',
    },
    {
      id: 'IngestErrorsAlarm',
      metric: (period) => p.ingest.metricErrors({ period, statistic: 'Sum' }),
      comparison: '>=',
      threshold: 1,
      periods: 1,
      description: 'The ingest function failed whole invocations (init or unexpected errors).',
    },
    {
      // Partial batch responses mean record failures do not show up as Lambda errors at all.
      id: 'IngestRecordFailuresAlarm',
      metric: (period) => pipelineMetric('batchItemFailures', 'ingest', 'Sum', period),
      comparison: '>=',
      threshold: 1,
      periods: 3,
      description: 'Ingest reported failed records (batchItemFailures) for 3 periods in a row.',
    },
    {
      // A lost notification is a fault: the object is ingested now, but something dropped it.
      id: 'ObjectsReconciledAlarm',
      metric: (period) => pipelineMetric('objectsReconciled', 'reconcile', 'Sum', period),
      comparison: '>',
      threshold: 0,
      periods: 1,
      description:
        'Reconciliation found objects whose notification was lost and sent them to ingest again: check the bucket notification configuration and who purges or deletes from the queue; the reconciled_objects table lists them.',
    },
    {
      id: 'ReconcileErrorsAlarm',
      metric: (period) => p.reconcile.metricErrors({ period, statistic: 'Sum' }),
      comparison: '>=',
      threshold: 1,
      periods: 1,
      description: 'The reconcile function failed: lost notifications are not being found.',
    },
    {
      id: 'GeneratorErrorsAlarm',
      metric: (period) => p.generator.metricErrors({ period, statistic: 'Sum' }),
      comparison: '>=',
      threshold: 1,
      periods: 1,
      description: 'The generator failed.',
    },
  ];
}

/**
 * Alarms from {@link alarmTable}, an optional e-mail topic for them, and one dashboard answering: is
 * data flowing, how much is rejected or duplicated, how late is it. The resources are created
 * directly in `scope` under fixed ids, so regrouping this code never changes their logical ids: a
 * new logical id makes CloudFormation replace the resource, and replacing the dashboard (whose name
 * is fixed) would delete it after creating its successor.
 */
export function addMonitoring(scope: Construct, props: MonitoringProps): Monitoring {
  const period = Duration.minutes(deploySettings.alarms.periodMinutes);
  const alarms = alarmTable(props).map(
    (row) =>
      new cloudwatch.Alarm(scope, row.id, {
        alarmDescription: row.description,
        metric: row.metric(period),
        threshold: row.threshold,
        comparisonOperator: operators[row.comparison],
        evaluationPeriods: row.periods,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
  );
  let alarmTopic: sns.Topic | undefined;
  if (props.alarmEmail) {
    alarmTopic = new sns.Topic(scope, 'AlarmTopic', { enforceSSL: true, displayName: 'Pipeline alarms' });
    alarmTopic.addSubscription(new snsSubscriptions.EmailSubscription(props.alarmEmail));
    for (const alarm of alarms) alarm.addAlarmAction(new cwActions.SnsAction(alarmTopic));
  }
  const dashboard = addDashboard(scope, props, alarms);
  return { alarms, dashboard, ...(alarmTopic ? { alarmTopic } : {}) };
}

function addDashboard(
  scope: Construct,
  p: MonitoringProps,
  alarms: cloudwatch.Alarm[],
): cloudwatch.Dashboard {
  const minute = Duration.minutes(1);
  const m = (name: string, fn: 'generator' | 'ingest' | 'reconcile', statistic: string, label: string) =>
    pipelineMetric(name, fn, statistic, minute, label);
  const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = []) =>
    new cloudwatch.GraphWidget({ title, left, right, width: 12, height: 6 });
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', {
    dashboardName: p.dashboardName,
    defaultInterval: Duration.hours(3),
  });
  dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 24, height: 3 }));
  dashboard.addWidgets(
    graph(
      'Ingest rate (events per minute)',
      [
        m('eventsInserted', 'ingest', 'Sum', 'inserted'),
        m('eventsGenerated', 'generator', 'Sum', 'generated'),
      ],
      [m('objectsIngested', 'ingest', 'Sum', 'objects ingested')],
    ),
    graph('Rejects and duplicates (per minute)', [
      m('eventsRejected', 'ingest', 'Sum', 'rejected rows'),
      m('eventsDuplicate', 'ingest', 'Sum', 'duplicate rows'),
      m('objectsSkippedReplay', 'ingest', 'Sum', 'objects skipped (replay)'),
      m('batchItemFailures', 'ingest', 'Sum', 'failed records'),
      m('objectsReconciled', 'reconcile', 'Sum', 'objects reconciled (notification lost)'),
    ]),
  );
  dashboard.addWidgets(
    graph('Latency: object created → committed (ms)', [
      m('ingestLatencyMs', 'ingest', 'p50', 'p50'),
      m('ingestLatencyMs', 'ingest', 'p90', 'p90'),
      m('ingestLatencyMs', 'ingest', 'Maximum', 'max'),
    ]),
    graph('Event lag: event_timestamp → committed (ms)', [
      m('eventLagMs', 'ingest', 'p50', 'p50'),
      m('eventLagMs', 'ingest', 'p99', 'p99'),
    ]),
  );
  dashboard.addWidgets(
    graph(
      'Ingest queue depth',
      [
        p.queue.metricApproximateNumberOfMessagesVisible({ period: minute, label: 'visible' }),
        p.queue.metricApproximateNumberOfMessagesNotVisible({ period: minute, label: 'in flight' }),
      ],
      [p.queue.metricApproximateAgeOfOldestMessage({ period: minute, label: 'oldest age (s)' })],
    ),
    graph('Dead-letter queue', [
      p.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: minute, label: 'DLQ messages' }),
    ]),
  );
  dashboard.addWidgets(
    graph(
      'Ingest function',
      [
        p.ingest.metricInvocations({ period: minute }),
        p.ingest.metricErrors({ period: minute }),
        p.ingest.metricThrottles({ period: minute }),
      ],
      [p.ingest.metricDuration({ period: minute, statistic: 'p90' })],
    ),
    graph('Generator', [
      m('objectsWritten', 'generator', 'Sum', 'objects written'),
      p.generator.metricErrors({ period: minute }),
    ]),
  );
  return dashboard;
}
