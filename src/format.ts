// Numbers and text as people read them, for every printed line, table cell and chart label: one
// way to write a duration, a size or the last line of an output.

/** Milliseconds: `2.00 s`, `12.3 ms`, `45 µs`, `-513 ms`, `0`. */
export function formatMs(ms: number): string {
  const a = Math.abs(ms);
  const sign = ms < 0 ? '-' : '';
  if (a >= 1000) return `${sign}${(a / 1000).toFixed(a >= 10000 ? 1 : 2)} s`;
  if (a >= 1) return `${sign}${a.toFixed(a >= 100 ? 0 : 1)} ms`;
  if (a === 0) return '0';
  return `${sign}${Math.round(a * 1000)} µs`;
}

/** A signed duration: `+513 ms`, `-2.00 s`, `0`. */
export function formatDeltaMs(ms: number): string {
  return ms > 0 ? `+${formatMs(ms)}` : formatMs(ms);
}

/** Nanoseconds: `2 min 5 s`, `2.00 s`, `12.3 ms`, `45 µs`, `800 ns`. */
export function formatDuration(ns: bigint | number): string {
  const n = Number(ns);
  if (n >= 60e9) return `${Math.floor(n / 60e9)} min ${((n % 60e9) / 1e9).toFixed(0)} s`;
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 10e9 ? 1 : 2)} s`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 100e6 ? 0 : 1)} ms`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 100e3 ? 0 : 1)} µs`;
  return `${n} ns`;
}

/** Bytes: `812 B`, `12.3 kB`, `4.0 MB`, `1.2 GB`. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(1)} GB`;
}

/** The last non-blank line of an output, cut to `max` characters (`...` marks the cut). */
export function lastLine(s: string, max: number): string {
  const t = s.trim().split('\n').pop() ?? '';
  return t.length > max ? t.slice(0, max - 3) + '...' : t;
}
