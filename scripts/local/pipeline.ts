import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import type { ReconcileSummary } from '../../functions/reconcile/reconcile.ts';
import type { ServerSetting } from './database.ts';
import type { SqsPoller } from './poller.ts';
import type { LocalResources, ResourceOptions } from './resources.ts';
import type { PipelineStatus } from './status.ts';

/** Everything the local runtime can be told; unset fields come from the topology. */
export interface LocalPipelineOptions {
  /** Use this S3+SQS endpoint (e.g. LocalStack) instead of starting the embedded one. */
  endpointUrl?: string;
  /** Port of the embedded endpoint (default 4566; 0 = any free port). */
  port?: number;
  /** Use this PostgreSQL instead of the embedded one. */
  databaseUrl?: string;
  /**
   * The runtime's folder: the embedded PostgreSQL's cluster and credentials, the embedded endpoint's
   * objects and queues, and the lock that keeps a second runtime off it. Default `.data/`. Without
   * it and with `databaseUrl`, the embedded endpoint keeps everything in memory (tests).
   */
  dataDir?: string;
  pgPort?: number;
  /** Server parameters of the embedded PostgreSQL (see `DEFAULT_SERVER_SETTINGS`). */
  pgSettings?: Readonly<Record<string, ServerSetting>>;
  generator?: {
    /** Milliseconds between generator invocations; 0 turns the schedule off. */
    intervalMs?: number;
    eventsPerObject?: number;
    badRate?: number;
    duplicateRate?: number;
    seed?: number;
  };
  ingest?: {
    batchSize?: number;
    batchingWindowMs?: number;
    concurrency?: number;
    poolMax?: number;
    /**
     * The timeout of the ingest function's Lambda-like context (default the topology's): a smaller
     * one makes a large object stop at its deadline and go on in a new invocation, as on AWS.
     */
    timeoutMs?: number;
  };
  reconcile?: {
    /** Milliseconds between runs after the one at start; 0 turns reconciliation off. */
    intervalMs?: number;
    /** Only objects in the bucket at least this long are reconciled (seconds). */
    graceSeconds?: number;
  };
  resources?: ResourceOptions;
  /** Human-readable progress lines (not the JSON logs, which the handlers write to stdout). */
  log?: (line: string) => void;
  /**
   * Serve the live dashboard on 127.0.0.1 at this port (0 = any free port). Off unless asked for:
   * `npm start` asks for 8080 (falling back to a free port when it is taken); tests ask for 0.
   */
  dashboardPort?: number | false;
  /** Lowest level of the functions' JSON logs; unset, `POWERTOOLS_LOG_LEVEL` (default INFO). */
  logLevel?: LogLevel;
  /** Aborting it during the start stops whatever was started, and the start rejects with `StartAborted`. */
  signal?: AbortSignal;
}

/** A running local pipeline. */
export interface LocalPipeline {
  endpointUrl: string;
  embeddedEndpoint: boolean;
  databaseUrl: string;
  embeddedDatabase: boolean;
  resources: LocalResources;
  poller: SqsPoller;
  /** The dashboard's address (`http://127.0.0.1:PORT/`), when it was asked for. */
  dashboardUrl?: string;
  /** The runtime's folder, when it uses one (see {@link LocalPipelineOptions.dataDir}). */
  dataDir?: string;
  /** Invoke the generator handler once, as the schedule does. */
  generateOnce(): Promise<{ key: string; events: number }>;
  /** Invoke the reconcile handler once, as its timer does (waits for a run in progress first). */
  reconcileOnce(): Promise<ReconcileSummary>;
  /** Reconciliation runs so far and notifications they sent (also counted in `objectsReconciled`). */
  reconciled: { runs: number; objects: number; last?: ReconcileSummary };
  /** Stop the generator schedule (waiting for a run in progress); ingest goes on. */
  stopSchedule(): Promise<void>;
  status(): Promise<PipelineStatus>;
  /** Stop the schedule and the poller (finishing batches in flight), then the endpoint and database. */
  stop(): Promise<void>;
}
