import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

/**
 * What the local runtime may know about another process before it signals it or trusts a lock file
 * naming it. A PID alone says little: after a reboot or a container restart the PID in a leftover
 * file belongs to some other process, so PostgreSQL's own pid file or our lock file is trusted only
 * when the process is shown to be the one that wrote it.
 */

/** True when a process with this PID exists (also one we may not signal). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: unknown) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The command line of a running process (its argv), or `undefined` when there is none. Linux reads
 * `/proc/<pid>/cmdline` (exact arguments); elsewhere `ps` (arguments joined by spaces, so a path
 * with a space is split: callers compare whole arguments, which then simply fails to match).
 */
export async function commandLine(pid: number): Promise<string[] | undefined> {
  if (!isAlive(pid)) return undefined;
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((a) => a !== '');
  } catch {
    try {
      const { stdout } = await promisify(execFile)('ps', ['-o', 'args=', '-p', String(pid)]);
      const line = stdout.trim();
      return line === '' ? undefined : line.split(/\s+/);
    } catch {
      return undefined;
    }
  }
}

/**
 * Who a process is beyond its PID: the boot it runs in and the clock tick it started at (Linux).
 * Two identities differ when the PID was reused after the first process ended or across a reboot.
 * `undefined` where the system does not say (then only liveness can be checked).
 */
export async function processIdentity(pid: number): Promise<string | undefined> {
  try {
    const [boot, stat] = await Promise.all([
      readFile('/proc/sys/kernel/random/boot_id', 'utf8'),
      readFile(`/proc/${pid}/stat`, 'utf8'),
    ]);
    // Field 22 (starttime) counts from after the command name, which may itself hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return `${boot.trim()}/${fields[19]}`;
  } catch {
    return undefined;
  }
}
