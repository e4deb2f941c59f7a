// A full disk, said plainly: which directory's disk, how much is free, how much the write needs.
// chDB reports it as NOT_ENOUGH_SPACE (or "No space left on device"), node as ENOSPC / EDQUOT.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { messageOf } from './errors';

export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  return /NOT_ENOUGH_SPACE|No space left on device|ENOSPC|Disk quota exceeded|EDQUOT/.test(messageOf(err));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Free bytes on the disk holding `dir` (or its nearest existing parent), null if unknown. */
export function freeBytes(dir: string): number | null {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      const s = fs.statfsSync(d);
      return s.bavail * s.bsize;
    } catch {
      if (d === path.dirname(d)) return null;
    }
  }
}

/** Bytes under `p` (a file or a directory tree). */
export function sizeOf(p: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of fs.readdirSync(p)) total += sizeOf(path.join(p, name));
  return total;
}

/**
 * "the disk holding DIR is full (12 KiB free): WHAT needs about N" (or "more than N" when only a
 * lower bound is known), for a message that goes on to say what to do.
 */
export function diskFullText(dir: string, what: string, need: { bytes: number; atLeast?: boolean }): string {
  const free = freeBytes(dir);
  return (
    `the disk holding ${dir} is full (${free === null ? 'free space unknown' : `${formatBytes(free)} free`}): ` +
    `${what} needs ${need.atLeast ? 'more than' : 'about'} ${formatBytes(need.bytes)}`
  );
}
