import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from '../../infra/paths.ts';

/**
 * `npm start` (scripts/local/start.ts) as a real child process in its own process group, so a test
 * can press Ctrl+C (SIGINT to the process), `kill -9` the whole group as a crash would, and read
 * what it wrote. tsx runs as a loader, not as its CLI: the CLI relays signals itself and kills the
 * child when it is slow to answer.
 */
export interface NpmStart {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or 128 + signal number when killed by a signal). */
  exited: Promise<number>;
  /** Wait until stderr matches (the human lines), failing with what was written at the deadline. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** The ready block's S3+SQS endpoint URL. */
  endpoint(): string | undefined;
  signal(signal: NodeJS.Signals): void;
  /** `kill -9` of the whole process group (this process and everything in its group). */
  killGroup(): void;
}

const SIGNALS: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * Start `npm start -- <args>` with `env` added to this process's environment. `DATABASE_URL` and
 * `AWS_ENDPOINT_URL` of the test run are not passed on: the embedded ones are used unless `env`
 * names others.
 */
export function npmStart(args: string[], env: NodeJS.ProcessEnv = {}): NpmStart {
  const merged: NodeJS.ProcessEnv = { ...process.env, POWERTOOLS_DEV: '' };
  delete merged.DATABASE_URL;
  delete merged.AWS_ENDPOINT_URL;
  Object.assign(merged, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete merged[k];
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/local/start.ts', ...args], {
    cwd: ROOT,
    env: merged,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString('utf8');
  });
  const exited = new Promise<number>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (SIGNALS[signal] ?? 0) : 0))),
  );
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: async (pattern, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = pattern.exec(err);
        if (m) return m;
        if (done) throw new Error(`npm start exited before ${pattern} was written; stderr:\n${err}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; stderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    endpoint: () => /S3\+SQS endpoint +(http:\/\/127\.0\.0\.1:\d+)/.exec(err)?.[1],
    signal: (signal) => {
      if (!done) child.kill(signal);
    },
    killGroup: () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
}

/** A fresh data folder for one test, and how to remove it. */
export async function tempDataDir(prefix = 'npm-start-'): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  // mkdtemp makes it 0700; run as root, PostgreSQL runs as the postgres user and must get through.
  await chmod(dir, 0o755);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** PIDs of running processes whose command line mentions `text` (e.g. a data folder), from /proc. */
export async function processesMentioning(text: string): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg.includes(text))) found.push(Number(entry));
  }
  return found;
}
