/**
 * The pipeline's topology, declared once.
 *
 * Both the CDK stack (`infra/stack.ts` and `infra/constructs/`) and the embedded local runtime (`scripts/local/*`) read this
 * object, so the bucket filter, queue settings, batching and schedule cannot drift between AWS,
 * LocalStack and a laptop. Handlers never import it: they are given their configuration by the
 * runtime that builds them (environment variables the stack sets from here, or the factories'
 * arguments locally).
 */
export const topology = {
  /** Logical names; CDK lets CloudFormation add suffixes, the local runtime uses them verbatim. */
  names: {
    bucket: 'ecommerce-events',
    queue: 'ecommerce-events-ingest',
    dlq: 'ecommerce-events-ingest-dlq',
  },
  /**
   * Only objects under this prefix ending with one of these suffixes raise a notification: plain CSV
   * and the gzip and zstd compressed forms. S3 allows one suffix per filter rule, so each suffix is
   * one queue configuration; S3 also rejects two configurations whose suffixes overlap (one ending
   * with the other), which none of these do.
   */
  notification: {
    prefix: 'events/',
    suffixes: ['.csv', '.csv.gz', '.csv.zst'],
  },
  /**
   * Objects moved aside after ingest keep their key under this prefix (`archive/events/…`). It lies
   * outside the notification prefix, so an archived object never raises a notification again.
   */
  archive: {
    prefix: 'archive/',
  },
  ingest: {
    /** Lambda timeout of the ingest function (seconds). */
    timeoutSeconds: 60,
    memoryMb: 1024,
    /** Records per invocation (SQS event source `batchSize`). */
    batchSize: 10,
    /** How long the event source waits to fill a batch (`maxBatchingWindow`, seconds). */
    batchingWindowSeconds: 1,
    /** Concurrent invocations (`maxConcurrency` on AWS, concurrent poll loops locally). */
    maxConcurrency: 2,
    /**
     * Records per transaction, at most (`INGEST_CHUNK_ROWS`). Several small objects share one
     * transaction; a larger object is committed chunk by chunk with a checkpoint in its ledger row.
     */
    chunkRows: 50_000,
    /**
     * An object whose share of rejected rows is above this commits no rows and fails as
     * `reject_budget_exceeded` (`MAX_REJECT_RATIO`; 1 turns the budget off).
     */
    maxRejectRatio: 0.5,
    /**
     * What happens to an object once ingested (`AFTER_INGEST`): `keep` it, `delete` it, or
     * `archive` it (moved under `archive.prefix`, where the bucket's lifecycle rule expires it).
     */
    afterIngest: 'keep' as 'keep' | 'delete' | 'archive',
  },
  /**
   * Reconciliation: objects in the bucket whose notification was lost are found by listing the
   * bucket and comparing it with the ledger, and sent to the ingest queue again.
   */
  reconcile: {
    /** Schedule on AWS (EventBridge rate, minutes). */
    rateMinutes: 15,
    /** Interval of the local timer (seconds); the local runtime also runs it once at start. */
    localIntervalSeconds: 60,
    /**
     * An object is reconciled only once it has been in the bucket this long (seconds): younger ones
     * may still have their notification on its way.
     */
    graceSeconds: 300,
    /** Keys listed per run, at most; the next run goes on from there (`RECONCILE_MAX_OBJECTS`). */
    maxObjectsPerRun: 50_000,
    /** Notifications sent per run, at most (`RECONCILE_MAX_NOTIFICATIONS`). */
    maxNotificationsPerRun: 5_000,
    timeoutSeconds: 300,
    memoryMb: 512,
  },
  queue: {
    /** Receives before a message goes to the DLQ. */
    maxReceiveCount: 5,
    /** Seconds a message is kept (4 days, the SQS default). */
    retentionSeconds: 4 * 24 * 3600,
    /** The DLQ keeps messages for 14 days, the SQS maximum, so a human has time to look. */
    dlqRetentionSeconds: 14 * 24 * 3600,
  },
  generator: {
    /** Events per CSV object. */
    eventsPerObject: 1000,
    /** Schedule of the generator on AWS (EventBridge rate, minutes). */
    rateMinutes: 1,
    /** Interval of the local timer (seconds): the laptop wants to see rows within seconds. */
    localIntervalSeconds: 3,
    badRate: 0.01,
    duplicateRate: 0.01,
    timeoutSeconds: 60,
    memoryMb: 512,
  },
  /**
   * PostgreSQL write settings the project owns, for the RDS parameter group and the embedded server
   * alike. Ingest writes in bursts of large transactions: a wider WAL budget and checkpoint spacing
   * mean fewer checkpoints under load, and so fewer full-page images of the same pages written
   * again into the WAL after each one. The embedded server's shared buffers are set here too (RDS
   * sizes them from the instance class).
   */
  database: {
    maxWalSizeMb: 4096,
    checkpointTimeoutSeconds: 900,
    checkpointCompletionTarget: 0.9,
    embeddedSharedBuffersMb: 512,
  },
  observability: {
    /** Powertools `POWERTOOLS_SERVICE_NAME` prefix and metrics namespace, identical everywhere. */
    serviceName: 'ecommerce-pipeline',
    metricsNamespace: 'EcommercePipeline',
  },
} as const;

/**
 * Visibility timeout of the ingest queue. AWS advises ≥ 6 × the function timeout plus the batching
 * window, so a message is never redelivered while an invocation may still be working on it.
 */
export function visibilityTimeoutSeconds(t: typeof topology = topology): number {
  return 6 * t.ingest.timeoutSeconds + t.ingest.batchingWindowSeconds;
}

/**
 * How long an `in_progress` ledger row may go without a commit before reconciliation takes its
 * continuation for lost: twice the queue's visibility timeout, by which time any message about it
 * (a continuation, a redelivery) would have been received.
 */
export function reconcileStaleSeconds(t: typeof topology = topology): number {
  return 2 * visibilityTimeoutSeconds(t);
}

/** True when S3 would notify for a key: under the prefix and ending with one of the suffixes. */
export function matchesNotificationFilter(key: string, t: typeof topology = topology): boolean {
  const { prefix, suffixes } = t.notification;
  return key.startsWith(prefix) && suffixes.some((suffix) => key.endsWith(suffix));
}
