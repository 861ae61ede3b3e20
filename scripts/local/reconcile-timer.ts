import type { ReconcileSummary } from '../../functions/reconcile/reconcile.ts';
import { topology } from '../../infra/topology.ts';
import { oneLine } from './errors.ts';
import type { localFunctions } from './functions.ts';
import { lambdaContext, scheduledEvent } from './lambda.ts';
import type { LocalPipeline } from './pipeline.ts';

/** The reconcile handler on a timer: once at start, then every `intervalMs` (0: never). */
export function scheduleReconcile(
  handler: ReturnType<typeof localFunctions>['reconcile'],
  options: { intervalMs: number; region: string; log: (line: string) => void },
) {
  const stats: LocalPipeline['reconciled'] = { runs: 0, objects: 0 };
  let stopping = false;
  let running: Promise<ReconcileSummary> | undefined;
  const run = async (): Promise<ReconcileSummary> => {
    const context = lambdaContext({
      functionName: 'reconcile',
      memoryMb: topology.reconcile.memoryMb,
      timeoutMs: topology.reconcile.timeoutSeconds * 1000,
      region: options.region,
    });
    // A stop cuts a run short at its next page, as a deadline would.
    const remaining = context.getRemainingTimeInMillis;
    context.getRemainingTimeInMillis = () => (stopping ? 0 : remaining());
    const summary = await handler(scheduledEvent(options.region), context);
    stats.runs++;
    stats.objects += summary.reconciled;
    stats.last = summary;
    if (summary.reconciled > 0) {
      const reasons = Object.entries(summary.byReason)
        .filter(([, n]) => n > 0)
        .map(([reason, n]) => `${n} ${reason}`);
      options.log(
        `reconcile: ${summary.reconciled} object(s) whose notification was lost sent to ingest again (${reasons.join(', ')})`,
      );
    }
    return summary;
  };
  /** One run at a time: a run asked for while one is going waits for it, then runs. */
  const runOnce = async (): Promise<ReconcileSummary> => {
    while (running) await running.catch(() => {});
    const current = run();
    running = current;
    try {
      return await current;
    } finally {
      if (running === current) running = undefined;
    }
  };
  const tick = () => {
    if (stopping || running) return;
    void runOnce().catch((e: unknown) => options.log(`reconcile: ${oneLine(e)}`));
  };
  let timer: NodeJS.Timeout | undefined;
  if (options.intervalMs > 0) {
    tick();
    timer = setInterval(tick, options.intervalMs);
  }
  return {
    stats,
    runOnce,
    stop: async () => {
      stopping = true;
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
