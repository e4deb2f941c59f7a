// gdb/MI (`gdb --interpreter=mi3`): a parser for its output records and a small client that
// sends one command at a time and waits for its result record. Used to read a paused replay's
// frames and variables through the engine's gdbserver (src/replay/inspect.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { ReplaybookError } from '../errors';

/** An MI value: a string, a tuple (object) or a list (of values; a list of results keeps only their values). */
export type MiValue = string | MiTuple | MiValue[];
export interface MiTuple {
  [key: string]: MiValue;
}

/** One line of MI output. */
export type MiRecord =
  | { kind: 'result'; token: number | null; class: string; results: MiTuple }
  | { kind: 'async'; token: number | null; type: '*' | '+' | '='; class: string; results: MiTuple }
  | { kind: 'stream'; type: '~' | '@' | '&'; text: string }
  | { kind: 'prompt' };

class Cursor {
  i = 0;
  constructor(readonly s: string) {}
  peek(): string {
    return this.s[this.i] ?? '';
  }
  expect(c: string): void {
    if (this.s[this.i] !== c) throw new Error(`MI: expected '${c}' at ${this.i} in ${this.s.slice(0, 120)}`);
    this.i++;
  }
}

/** A C string as MI writes it: escapes \n \t \" \\ and octal \ooo (bytes of UTF-8). */
function cString(c: Cursor): string {
  c.expect('"');
  const bytes: number[] = [];
  for (;;) {
    const ch = c.s[c.i++];
    if (ch === undefined) throw new Error('MI: unterminated string');
    if (ch === '"') break;
    if (ch !== '\\') {
      for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
      continue;
    }
    const e = c.s[c.i++];
    if (e >= '0' && e <= '7') {
      let oct = e;
      while (oct.length < 3 && c.peek() >= '0' && c.peek() <= '7') oct += c.s[c.i++];
      bytes.push(parseInt(oct, 8) & 0xff);
      continue;
    }
    const map: Record<string, number> = { n: 10, t: 9, r: 13, '"': 34, '\\': 92, a: 7, b: 8, f: 12, v: 11, e: 27 };
    bytes.push(map[e] ?? e.charCodeAt(0));
  }
  return Buffer.from(bytes).toString('utf8');
}

function value(c: Cursor): MiValue {
  const ch = c.peek();
  if (ch === '"') return cString(c);
  if (ch === '{') {
    c.expect('{');
    const t: MiTuple = {};
    if (c.peek() === '}') {
      c.i++;
      return t;
    }
    for (;;) {
      const [k, v] = result(c);
      t[k] = v;
      if (c.peek() === ',') c.i++;
      else break;
    }
    c.expect('}');
    return t;
  }
  if (ch === '[') {
    c.expect('[');
    const l: MiValue[] = [];
    if (c.peek() === ']') {
      c.i++;
      return l;
    }
    for (;;) {
      // Either values or results (name=value): a list of results keeps the values.
      if (c.peek() === '"' || c.peek() === '{' || c.peek() === '[') l.push(value(c));
      else l.push(result(c)[1]);
      if (c.peek() === ',') c.i++;
      else break;
    }
    c.expect(']');
    return l;
  }
  throw new Error(`MI: unexpected '${ch}' at ${c.i}`);
}

function result(c: Cursor): [string, MiValue] {
  const eq = c.s.indexOf('=', c.i);
  if (eq < 0) throw new Error('MI: a result without =');
  const k = c.s.slice(c.i, eq);
  c.i = eq + 1;
  return [k, value(c)];
}

/** Parses one line of MI output (throws on a malformed one). */
export function parseMiLine(line: string): MiRecord {
  if (line.trim() === '(gdb)') return { kind: 'prompt' };
  const c = new Cursor(line);
  if ('~@&'.includes(c.peek())) {
    const type = c.s[c.i++] as '~' | '@' | '&';
    return { kind: 'stream', type, text: cString(c) };
  }
  let digits = '';
  while (c.peek() >= '0' && c.peek() <= '9') digits += c.s[c.i++];
  const token = digits ? Number(digits) : null;
  const type = c.s[c.i++];
  const comma = c.s.indexOf(',', c.i);
  const cls = comma < 0 ? c.s.slice(c.i) : c.s.slice(c.i, comma);
  c.i = comma < 0 ? c.s.length : comma;
  const results: MiTuple = {};
  while (c.peek() === ',') {
    c.i++;
    const [k, v] = result(c);
    results[k] = v;
  }
  if (type === '^') return { kind: 'result', token, class: cls, results };
  if (type === '*' || type === '+' || type === '=') return { kind: 'async', token, type, class: cls, results };
  throw new Error(`MI: unknown record type '${type}' in ${line.slice(0, 120)}`);
}

/** A string field of a tuple, or null. */
export function miStr(t: MiValue | undefined, key: string): string | null {
  if (!t || typeof t === 'string' || Array.isArray(t)) return null;
  const v = t[key];
  return typeof v === 'string' ? v : null;
}

export function miList(t: MiValue | undefined, key: string): MiValue[] {
  if (!t || typeof t === 'string' || Array.isArray(t)) return [];
  const v = t[key];
  return Array.isArray(v) ? v : [];
}

/** The result of one MI command: its results, and the console text gdb printed meanwhile. */
export interface MiReply {
  results: MiTuple;
  console: string;
}

/** A gdb process driven over MI, one command at a time. */
export class GdbMi {
  private proc: ChildProcess;
  private buf = '';
  private token = 1;
  private console = '';
  private pending: { token: number; resolve: (r: MiReply) => void; reject: (e: Error) => void } | null = null;
  private exited: Error | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(gdb = '/usr/bin/gdb') {
    this.proc = spawn(gdb, ['--interpreter=mi3', '-nx', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stdout!.on('data', (d: string) => this.onData(d));
    this.proc.stderr!.on('data', () => undefined);
    const gone = (why: string): void => {
      this.exited = new ReplaybookError('gdb', `gdb ended: ${why}`);
      this.pending?.reject(this.exited);
      this.pending = null;
    };
    this.proc.on('error', (e) => gone(`${gdb} could not run (${e.message}); install gdb (apt-get install gdb)`));
    this.proc.on('exit', (code, sig) => gone(sig ? `signal ${sig}` : `exit ${code}`));
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      let r: MiRecord;
      try {
        r = parseMiLine(line);
      } catch {
        continue; // gdb's own noise outside MI (rare): ignored
      }
      if (r.kind === 'stream' && (r.type === '~' || r.type === '&')) this.console += r.text;
      if (r.kind === 'result' && this.pending && r.token === this.pending.token) {
        const p = this.pending;
        this.pending = null;
        const console = this.console;
        this.console = '';
        if (r.class === 'error') p.reject(new ReplaybookError('gdb', `gdb: ${miStr(r.results, 'msg') ?? 'error'}`));
        else p.resolve({ results: r.results, console });
      }
    }
  }

  /** Sends one MI command (without token) and resolves with its result (rejects on ^error). */
  command(cmd: string): Promise<MiReply> {
    const run = (): Promise<MiReply> =>
      new Promise<MiReply>((resolve, reject) => {
        if (this.exited) return reject(this.exited);
        const token = this.token++;
        this.pending = { token, resolve, reject };
        this.console = '';
        this.proc.stdin!.write(`${token}${cmd}\n`);
      });
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Ends gdb (it detaches from the target first, leaving the replay as it is). */
  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.stdin!.end('-gdb-exit\n');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await done;
    clearTimeout(timer);
  }
}

/** Quotes a word for an MI command line. */
export function miQuote(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}
