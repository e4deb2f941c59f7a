// Who holds the chDB directory. ClickHouse takes an exclusive flock() on `<data dir>/status` for
// as long as a process has the directory open (measured: a second process's open fails at once
// with "Cannot lock file .../status. Another server instance in same directory is already
// running", printed on stderr; closing the last session releases it; a dead process's lock is
// dropped by the kernel). Asking /proc/locks first avoids a failed open (and its stderr line) per
// retry, and lets messages name the process in the way.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { holdersDir } from './location';

export interface LockHolder {
  pid: number;
  /** Its command line, when readable. */
  command: string | null;
  /** It opened the store with keepOpen: it will not let go until it closes the store or exits. */
  keepsOpen: boolean;
}

/**
 * The process (other than this one) holding the chDB directory: a holder, null when the
 * directory is free or held by this process, undefined when this system cannot tell (no
 * /proc/locks).
 */
export function lockHolder(home: string, dataDir: string): LockHolder | null | undefined {
  let st: fs.BigIntStats;
  try {
    st = fs.statSync(path.join(dataDir, 'status'), { bigint: true });
  } catch {
    return null; // never opened: nobody can hold it
  }
  let table: string;
  try {
    table = fs.readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  // glibc's dev_t encoding; /proc/locks prints MAJOR:MINOR:INODE in hex:hex:decimal.
  const major = ((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn);
  const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn);
  for (const line of table.split('\n')) {
    // "12: FLOCK  ADVISORY  WRITE 2918 fe:00:2148340 0 EOF"; waiters ("12: -> FLOCK ...") skipped.
    const m = /^\d+:\s+FLOCK\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (!m) continue;
    if (BigInt(m[4]) !== st.ino) continue;
    if (BigInt(`0x${m[2]}`) !== major || BigInt(`0x${m[3]}`) !== minor) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) return null;
    return { pid, command: commandOf(pid), keepsOpen: fs.existsSync(holderFile(home, pid)) };
  }
  return null;
}

function commandOf(pid: number): string | null {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    if (!cmd) return null;
    return cmd.length > 160 ? `${cmd.slice(0, 157)}...` : cmd;
  } catch {
    return null;
  }
}

/** Marker a keepOpen store leaves while it holds the directory. */
export function holderFile(home: string, pid: number = process.pid): string {
  return path.join(holdersDir(home), `${pid}.json`);
}

export function describeHolder(holder: LockHolder): string {
  return holder.command ? `process ${holder.pid} (${holder.command})` : `process ${holder.pid}`;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
