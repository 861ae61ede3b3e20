import { unlinkSync } from 'node:fs';
import { mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StartError } from './errors.ts';
import { isAlive, processIdentity } from './processes.ts';

/**
 * One local runtime per data folder. Two runtimes on one folder would share the embedded
 * PostgreSQL's cluster and the endpoint's files, and the second one's start would stop the first
 * one's server; so the first takes `<dataDir>/lock.json` for its whole life and the second stops at
 * once, with a message naming the first one's PID and ports.
 */

/** What the lock file says about the runtime holding it. */
export interface LockInfo {
  pid: number;
  /** Boot and start time of that process (Linux), so a reused PID is not taken for it. */
  identity?: string;
  startedAt: string;
  /** Ports it listens on, filled in as they are known. */
  ports: { endpoint?: number; postgres?: number; dashboard?: number };
}

/** A held lock. */
export interface DataDirLock {
  file: string;
  /** Record the ports once known (the message a second runtime prints names them). */
  update(ports: LockInfo['ports']): Promise<void>;
  release(): Promise<void>;
}

const LOCK_FILE = 'lock.json';

/** Lock files held by runtimes of this very process (tests start several runtimes in one). */
const heldHere = new Set<string>();

/** The lock file of a data folder. */
export function lockFile(dataDir: string): string {
  return path.join(path.resolve(dataDir), LOCK_FILE);
}

/**
 * Take the data folder's lock, or throw a {@link StartError} naming the runtime that holds it. A
 * lock whose process is gone (or whose PID now belongs to another process) is stale and taken over.
 */
export async function acquireDataDirLock(
  dataDir: string,
  ports: LockInfo['ports'] = {},
): Promise<DataDirLock> {
  const file = lockFile(dataDir);
  await mkdir(path.dirname(file), { recursive: true });
  const identity = await processIdentity(process.pid);
  let info: LockInfo = {
    pid: process.pid,
    ...(identity ? { identity } : {}),
    startedAt: new Date().toISOString(),
    ports,
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o644);
      await handle.writeFile(`${JSON.stringify(info)}\n`);
      await handle.close();
      break;
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const raw = await readFile(file, 'utf8').catch(() => '');
    const holder = parse(raw);
    if (holder && (await holds(holder, file))) throw new StartError(heldMessage(dataDir, holder));
    // Stale: remove it if it is still the file just read, then try again.
    if ((await readFile(file, 'utf8').catch(() => '')) === raw) await unlink(file).catch(() => {});
    if (attempt === 2) throw new StartError(`cannot take the lock ${file}: remove it if no npm start runs`);
  }
  const onExit = () => {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  };
  process.once('exit', onExit);
  heldHere.add(file);
  let released = false;
  return {
    file,
    update: async (more) => {
      info = { ...info, ports: { ...info.ports, ...more } };
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(info)}\n`);
      await rename(tmp, file);
    },
    release: async () => {
      if (released) return;
      released = true;
      heldHere.delete(file);
      process.removeListener('exit', onExit);
      const current = parse(await readFile(file, 'utf8').catch(() => ''));
      if (current?.pid === process.pid) await unlink(file).catch(() => {});
    },
  };
}

function parse(raw: string): LockInfo | undefined {
  try {
    const v = JSON.parse(raw) as LockInfo;
    return Number.isInteger(v.pid) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** True when the process the lock names still runs (and is the same process, where that is knowable). */
async function holds(holder: LockInfo, file: string): Promise<boolean> {
  if (holder.pid === process.pid) return heldHere.has(file);
  if (!isAlive(holder.pid)) return false;
  if (!holder.identity) return true;
  const now = await processIdentity(holder.pid);
  return now === undefined || now === holder.identity;
}

function heldMessage(dataDir: string, h: LockInfo): string {
  const ports = [
    h.ports.endpoint ? `S3+SQS endpoint on port ${h.ports.endpoint}` : '',
    h.ports.postgres ? `PostgreSQL on port ${h.ports.postgres}` : '',
    h.ports.dashboard ? `dashboard on port ${h.ports.dashboard}` : '',
  ].filter(Boolean);
  return `another npm start (pid ${h.pid}${ports.length ? `, ${ports.join(', ')}` : ''}, since ${h.startedAt}) uses the data folder ${path.resolve(dataDir)}: stop it first (Ctrl+C in its terminal, or kill ${h.pid}), or give this one its own folder with --data-dir <folder>`;
}
