// The process table as ps shows it, for tests that check that what they started is gone.
import { spawnSync } from 'node:child_process';

export interface Proc {
  pid: number;
  ppid: number;
  /** ps's STAT: Z for a zombie (exited, not yet reaped). */
  stat: string;
  args: string;
}

/** Every process, from `ps -eo pid,ppid,stat,args` (ps itself left out). */
export function processTable(): Proc[] {
  const r = spawnSync('ps', ['-eo', 'pid=,ppid=,stat=,args='], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ps failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && Number(m[1]) !== r.pid)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), stat: m[3], args: m[4] }));
}

/** Running processes (not zombies) whose command line contains `marker`. */
export function processesMatching(marker: string): Proc[] {
  return processTable().filter((p) => p.args.includes(marker) && !p.stat.startsWith('Z'));
}

/** The given processes and all their descendants, as they are now. */
export function processTree(roots: number[]): Proc[] {
  const table = processTable();
  const inTree = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table) {
      if (!inTree.has(p.pid) && inTree.has(p.ppid)) {
        inTree.add(p.pid);
        grew = true;
      }
    }
  }
  return table.filter((p) => inTree.has(p.pid));
}

/** Which of these processes still run (zombies count as gone: they have exited). */
export function stillRunning(procs: Proc[]): Proc[] {
  const now = new Map(processTable().map((p) => [p.pid, p]));
  // Same pid and same command line: the same process, not a new one that reused the id.
  return procs.filter((p) => {
    const q = now.get(p.pid);
    return q !== undefined && q.args === p.args && !q.stat.startsWith('Z');
  });
}

/** Waits up to `ms` for the processes to end; returns those still running. */
export async function waitGone(procs: Proc[], ms = 5000): Promise<Proc[]> {
  const deadline = Date.now() + ms;
  let left = stillRunning(procs);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = stillRunning(left);
  }
  return left;
}
