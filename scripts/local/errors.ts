/**
 * Errors the local runtime reports at start: one line that says what went wrong and what to do,
 * printed by `npm start` without a stack trace.
 */

/** A start failure with a message for the user (what happened, what to do). */
export class StartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartError';
  }
}

/** The start was interrupted (Ctrl+C); everything started so far has been stopped. */
export class StartAborted extends Error {
  constructor() {
    super('interrupted during start');
    this.name = 'StartAborted';
  }
}

/** Throw {@link StartAborted} when the signal says the start was interrupted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new StartAborted();
}

function field(e: unknown, name: string): unknown {
  return typeof e === 'object' && e !== null ? (e as Record<string, unknown>)[name] : undefined;
}

/** The message of any thrown value on one line. */
export function oneLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * The error of connecting to a PostgreSQL named by a URL (`DATABASE_URL`), as what to do. Anything
 * not recognised keeps its own message.
 */
export function databaseStartError(e: unknown, where: string): Error {
  if (e instanceof StartError || e instanceof StartAborted) return e;
  const code = field(e, 'code');
  const text = oneLine(e);
  const hint = (message: string) => new StartError(`${where}: ${message}`, { cause: e });
  switch (code) {
    case '28P01':
    case '28000':
      return hint(`${text}: fix the user or password in the URL`);
    case '3D000':
      return hint(`${text}: create it (createdb) or name an existing database in the URL`);
    case 'ECONNREFUSED':
      return hint(`nothing answers (${text}): start PostgreSQL, or fix the host and port in the URL`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return hint(`the host does not resolve (${text}): fix the host in the URL`);
    case '57P03':
      return hint(`${text}: PostgreSQL is starting or shutting down; try again in a moment`);
    default:
      if (/timeout/i.test(text))
        return hint(`no answer in time (${text}): is PostgreSQL running and reachable?`);
      return hint(text);
  }
}

/** The error of reaching an S3+SQS endpoint (`AWS_ENDPOINT_URL`), as what to do. */
export function endpointStartError(e: unknown, url: string): Error {
  if (e instanceof StartError || e instanceof StartAborted) return e;
  const code = field(e, 'code') ?? field(field(e, 'cause'), 'code');
  const text = oneLine(e);
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(text))
    return new StartError(
      `S3+SQS endpoint ${url}: nothing answers: start it (e.g. LocalStack), or unset AWS_ENDPOINT_URL to use the embedded one`,
      { cause: e },
    );
  return new StartError(`S3+SQS endpoint ${url}: ${text}`, { cause: e });
}

/** A port that is already taken, as what to do. */
export function portTaken(what: string, port: number, option: string): StartError {
  return new StartError(
    `port ${port} of the ${what} is taken (another npm start, LocalStack, another PostgreSQL?): stop what uses it, or pass ${option} <another port>`,
  );
}
