/**
 * The pipeline's error tree. Every failure is either permanent (retrying cannot help: record it and
 * stop) or transient (retrying later may help: let SQS redeliver). Handlers decide what to do from
 * the class alone, so the message of each error says what a human should do about it.
 */
export abstract class PipelineError extends Error {
  /** True when a retry can never succeed. */
  abstract readonly permanent: boolean;
  /** Stable machine-readable code, stored in the ledger and logs. */
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Retry later: database down, connection reset, S3 5xx, throttling. SQS redelivers the record. */
export class TransientError extends PipelineError {
  readonly permanent = false;
  readonly code = 'transient';
}

/** The SQS message body is not something we can act on (not JSON, not an S3 event). */
export class BadMessageError extends PipelineError {
  readonly permanent = true;
  readonly code = 'bad_message';
}

/** Reasons an object as a whole cannot be ingested. Stored as the ledger status/error. */
export type ObjectFailureCode =
  | 'object_missing'
  | 'invalid_utf8'
  | 'invalid_compression'
  | 'invalid_key'
  | 'header_mismatch'
  | 'reject_budget_exceeded'
  | 'unstorable_value';

/** The object cannot be ingested as a whole: it is recorded in the ledger and acknowledged. */
export class BadObjectError extends PipelineError {
  readonly permanent = true;
  constructor(
    readonly code: ObjectFailureCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** PostgreSQL SQLSTATE classes/codes worth a retry: connection, resources, serialization, shutdown. */
const TRANSIENT_SQLSTATE = /^(08|53|57P|40001|40P01|55P03|58)/;
/** Node socket errors that mean "the other side went away", not "the request was wrong". */
const TRANSIENT_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function field(e: unknown, name: string): unknown {
  return typeof e === 'object' && e !== null && name in e ? (e as Record<string, unknown>)[name] : undefined;
}

/** True for errors raised by the PostgreSQL driver or the network that a retry may fix. */
export function isTransientInfraError(e: unknown): boolean {
  const code = field(e, 'code');
  if (typeof code === 'string' && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_NODE_CODES.has(code)))
    return true;
  const status = field(field(e, '$metadata'), 'httpStatusCode');
  if (typeof status === 'number' && (status >= 500 || status === 429)) return true;
  const message = e instanceof Error ? e.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message);
}
