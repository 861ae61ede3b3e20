import { afterAll, expect } from 'vitest';
import { freePort } from './net.ts';
import { type NpmStart, npmStart, processesMentioning, tempDataDir } from './npm-start.ts';

/**
 * What the lifecycle tests share: data folders and `npm start` processes cleaned up after the file
 * (every process still using a folder killed first), a clean stop, and the status line's numbers.
 */
export function lifecycleFixture() {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  /** A data folder removed after the file's tests, with every process still using it killed first. */
  async function dataDir(): Promise<string> {
    const d = await tempDataDir('lifecycle-');
    cleanups.push(async () => {
      for (const pid of await processesMentioning(d.dir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await d.remove();
    });
    return d.dir;
  }

  /** A started instance that is killed (group and all) at the end if a test left it running. */
  function started(args: string[], env: NodeJS.ProcessEnv = {}): NpmStart {
    const p = npmStart(args, env);
    cleanups.push(async () => {
      p.killGroup();
      await p.exited;
    });
    return p;
  }

  return { cleanups, dataDir, started };
}

/** No dashboard, and a status line every `statusSeconds`. */
const quiet = (statusSeconds = 0.5) => ['--dashboard-port', 'off', '--status', String(statusSeconds)];

/** Arguments every lifecycle test passes: no dashboard, a status line every half second. */
export const QUIET = quiet();

/**
 * `npm start` arguments for an instance on `dir` that generates nothing by itself (`--interval 0`):
 * any free S3 port, a free PostgreSQL port, no dashboard and a status line every `statusSeconds`.
 */
export async function idleInstanceArgs(dir: string, statusSeconds?: number): Promise<string[]> {
  return [
    '--data-dir',
    dir,
    '--port',
    '0',
    '--pg-port',
    String(await freePort()),
    '--interval',
    '0',
    ...quiet(statusSeconds),
  ];
}

/** Ctrl+C, then the exit code 0 and the last words of a clean stop. */
export async function stopCleanly(p: NpmStart): Promise<void> {
  p.signal('SIGINT');
  expect(await p.exited).toBe(0);
  expect(p.stderr()).toContain('stopped cleanly.');
}

/** The last "ingested … objects" figure of the status lines. */
export function ingestedObjects(p: NpmStart): number {
  const all = [...p.stderr().matchAll(/ingested \d+ rows\/(\d+) objects/g)];
  return Number(all.at(-1)?.[1] ?? -1);
}

/** Poll until `check` holds, or fail naming `what`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
