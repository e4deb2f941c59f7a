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

/**
 * Marker a process leaves while it waits for the chDB directory: a recorder that keeps the store
 * open between its ingestions (ChdbStore.ingestLive with `keep`) lets go at its next one.
 */
function wantFile(home: string, pid: number = process.pid): string {
  return path.join(holdersDir(home), `want-${pid}`);
}

/** Says that this process waits for the directory (until the returned function is called). */
export function markWanted(home: string): () => void {
  const file = wantFile(home);
  try {
    fs.mkdirSync(holdersDir(home), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, '', { mode: 0o600 });
  } catch {
    return () => undefined; // unwritable: the holder lets go at its end only
  }
  return () => fs.rmSync(file, { force: true });
}

/** Whether another live process waits for the directory (markWanted); stale markers go. */
export function wantedByOthers(home: string): boolean {
  let names: string[];
  try {
    names = fs.readdirSync(holdersDir(home));
  } catch {
    return false;
  }
  let wanted = false;
  for (const name of names) {
    const m = /^want-(\d+)$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    if (processAlive(pid)) wanted = true;
    else fs.rmSync(path.join(holdersDir(home), name), { force: true });
  }
  return wanted;
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

/**
 * Who may try to open the chDB directory right now. /proc/locks shows a holder only once its open
 * has taken the flock; two processes that check at the same moment both see the directory free,
 * both open, and the loser's chDB prints "Code: 76 ... Cannot lock file" on stderr even though the
 * loser then waits and succeeds. An exclusive marker file held for the moment of the check and the
 * open closes that window among replaybook processes. Returns its release, or null when another
 * process is opening (the caller then treats the store as busy). A marker whose process is gone,
 * or older than a few seconds (an open takes well under one), is stale and taken over.
 */
export function tryOpeningLock(home: string): (() => void) | null {
  const file = path.join(home, 'chdb.opening');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return () => undefined; // cannot tell: open without it
    }
    let stale = false;
    try {
      const pid = Number(fs.readFileSync(file, 'utf8'));
      const age = Date.now() - fs.statSync(file).mtimeMs;
      // An empty marker is one being written this instant: only its age can make it stale.
      stale = age > 5_000 || (pid > 0 && (!processAlive(pid) || pid === process.pid));
    } catch {
      stale = false; // removed meanwhile: try again
    }
    if (!stale && attempt === 0) {
      try {
        fs.statSync(file);
        return null;
      } catch {
        continue;
      }
    }
    if (stale) fs.rmSync(file, { force: true });
  }
  return null;
}
