import type { LocalPipeline } from '../../scripts/local/runtime.ts';
import type { PipelineStatus } from '../../scripts/local/status.ts';

/**
 * Poll the pipeline's status until `check` holds — the signal the test waits on — and return that
 * status; fail with the last status seen when the deadline passes. No fixed sleeps.
 */
export async function untilStatus(
  pipeline: LocalPipeline,
  check: (s: PipelineStatus) => boolean,
  timeoutMs = 30_000,
): Promise<PipelineStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await pipeline.status();
    if (check(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out; last status ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
