import { randomUUID } from 'node:crypto';
import type { Context, ScheduledEvent } from 'aws-lambda';

/** What a local invocation's context says about the function. */
export interface LocalFunction {
  functionName: string;
  memoryMb: number;
  /** The function's timeout; `getRemainingTimeInMillis` counts down from it. */
  timeoutMs: number;
  region?: string;
}

/** A Lambda-like context for one local invocation, with a real deadline. */
export function lambdaContext(fn: LocalFunction): Context {
  const deadline = Date.now() + fn.timeoutMs;
  const name = fn.functionName;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${fn.region ?? 'us-east-1'}:000000000000:function:${name}`,
    memoryLimitInMB: String(fn.memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: `local/${process.pid}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** The event an EventBridge schedule sends, as the local timer sends it. */
export function scheduledEvent(region: string): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date().toISOString(),
    region,
    resources: [`arn:aws:events:${region}:000000000000:rule/local-generator-schedule`],
    detail: {},
  };
}
