// Redaction at record time: secrets (environment variables by name, HTTP credentials, a user's
// byte patterns, whole files) are replaced by placeholders of the same length before anything
// reaches the store. A replay is given the placeholders (the stored environment), so where the
// service passes a secret through unchanged it makes the same calls with the same bytes; where it
// transforms one (a hash, base64) it diverges, and the divergence names the rule.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import type { EventColumns, VarColumn } from '../engine/native';
import { binaryColumn, seqColumn } from '../engine/columns';
import type { AppliedRedaction, RedactedFile, RedactionReport } from '../events/schema';
import { ReplaybookError } from '../errors';
import { sha256File } from '../hash';

/** One rule: `env:GLOB`, `header:NAME`, `bytes:TEXT` or `file:PATH` (see parseRedactRule). */
export type RedactRule =
  | { kind: 'env'; pattern: string }
  | { kind: 'header'; name: string }
  | { kind: 'bytes'; text: string }
  | { kind: 'file'; path: string };

/** Rules on unless `--no-default-redact` (`defaultRedact: false`). */
export const DEFAULT_REDACT_RULES: readonly RedactRule[] = [
  { kind: 'env', pattern: '*TOKEN*' },
  { kind: 'env', pattern: '*SECRET*' },
  { kind: 'env', pattern: '*PASSWORD*' },
  { kind: 'env', pattern: '*_KEY' },
  { kind: 'header', name: 'Authorization' },
  { kind: 'header', name: 'Proxy-Authorization' },
  { kind: 'header', name: 'Cookie' },
  { kind: 'header', name: 'Set-Cookie' },
  { kind: 'header', name: 'X-Api-Key' },
];

/**
 * Values shorter than this are replaced in the environment and arguments only: searching every
 * recorded byte for `1` or `abc` would rewrite unrelated data.
 */
export const MIN_SEARCHED_SECRET = 4;

/** The placeholder byte: a secret of n bytes becomes n of these. */
const PLACEHOLDER = 0x2a; // '*'

/** Rule options of record(): shared by the CLI and the notebook. */
export interface RedactOptions {
  /** Extra rules, as objects or as `env:GLOB`, `header:NAME`, `bytes:TEXT`, `file:PATH` strings. */
  redact?: (RedactRule | string)[];
  /** Apply DEFAULT_REDACT_RULES too (default true). */
  defaultRedact?: boolean;
}

export function ruleText(r: RedactRule): string {
  switch (r.kind) {
    case 'env':
      return `env:${r.pattern}`;
    case 'header':
      return `header:${r.name}`;
    case 'bytes':
      return `bytes:${r.text}`;
    case 'file':
      return `file:${r.path}`;
  }
}

/** Parses `env:GLOB`, `header:NAME`, `bytes:TEXT` or `file:PATH`, with a one-line error. */
export function parseRedactRule(spec: string): RedactRule {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? '' : spec.slice(0, colon);
  const value = spec.slice(colon + 1);
  const bad = (why: string): ReplaybookError =>
    new ReplaybookError('bad_redact_rule', `redaction rule '${spec}' ${why} (use env:GLOB, header:NAME, bytes:TEXT or file:PATH)`);
  if (!['env', 'header', 'bytes', 'file'].includes(kind)) throw bad('has no known kind');
  if (value.length === 0) throw bad('is empty after the colon');
  if (kind === 'env') {
    if (!/^[A-Za-z0-9_*?]+$/.test(value)) throw bad('is not a variable name pattern (letters, digits, _, * and ?)');
    return { kind, pattern: value };
  }
  if (kind === 'header') {
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(value)) throw bad('is not an HTTP header name');
    return { kind, name: value };
  }
  if (kind === 'bytes') {
    if (Buffer.byteLength(value) < MIN_SEARCHED_SECRET) throw bad(`is shorter than ${MIN_SEARCHED_SECRET} bytes, which would replace unrelated data`);
    return { kind, text: value };
  }
  return { kind: 'file', path: value };
}

/** The rules in force for these options, defaults first. */
export function redactRules(o: RedactOptions): RedactRule[] {
  const extra = (o.redact ?? []).map((r) => (typeof r === 'string' ? parseRedactRule(r) : r));
  return [...(o.defaultRedact === false ? [] : DEFAULT_REDACT_RULES), ...extra];
}

function globRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

/** The secret parts of one header value: credentials after the scheme, cookie values. */
function headerSecrets(name: string, value: string): string[] {
  const lower = name.toLowerCase();
  if (lower === 'authorization' || lower === 'proxy-authorization') {
    const sp = value.indexOf(' ');
    return [sp < 0 ? value : value.slice(sp + 1).trim()];
  }
  if (lower === 'cookie' || lower === 'set-cookie') {
    const pairs = lower === 'cookie' ? value.split(';') : [value.split(';')[0]];
    return pairs.map((p) => {
      const eq = p.indexOf('=');
      return (eq < 0 ? p : p.slice(eq + 1)).trim();
    });
  }
  return [value.trim()];
}

interface Secret {
  bytes: Buffer;
  rule: string;
}

class Applied {
  names = new Set<string>();
  inCommand = false;
  events: AppliedRedaction['events'] = [];
  eventSeqs = new Set<number>();

  constructor(readonly rule: string) {}

  add(seq: number, column: 'data_in' | 'data_out' | 'resource', ranges: [number, number][]): void {
    this.eventSeqs.add(seq);
    if (this.events.length < 1000) this.events.push({ seq, column, ranges });
  }

  report(): AppliedRedaction {
    return { rule: this.rule, names: [...this.names], inCommand: this.inCommand, events: this.events, eventCount: this.eventSeqs.size };
  }
}

/** Byte columns of one batch, writable in place (same-length replacement never moves bytes). */
interface ByteColumns {
  seq: BigUint64Array;
  n: number;
  columns: [column: 'data_in' | 'data_out' | 'resource', col: VarColumn][];
  resource: VarColumn;
}

function fromEngine(c: EventColumns): ByteColumns {
  return { seq: c.seq, n: c.n, columns: [['data_in', c.data_in], ['data_out', c.data_out], ['resource', c.resource]], resource: c.resource };
}

function fromBatch(b: RecordBatch): ByteColumns {
  const resource = binaryColumn(b, 'resource');
  return {
    seq: seqColumn(b),
    n: b.numRows,
    columns: [['data_in', binaryColumn(b, 'data_in')], ['data_out', binaryColumn(b, 'data_out')], ['resource', resource]],
    resource,
  };
}

function cell(col: VarColumn, i: number): Buffer {
  const a = col.offsets[i];
  const b = col.offsets[i + 1];
  return Buffer.from(col.data.buffer, col.data.byteOffset + a, b - a);
}

const latin1 = (b: Buffer): string => b.toString('latin1');

/**
 * Finds and replaces secrets. Built from the rules; `command()` redacts the environment and
 * arguments (and learns the env values), `collect()` learns header values from the events,
 * `apply()` replaces every known value in the events.
 */
export class Redactor {
  private readonly rules: RedactRule[];
  private readonly secrets = new Map<string, Secret>(); // hex of the value -> secret
  private readonly applied = new Map<string, Applied>();
  private readonly headerRe: RegExp | null;
  private readonly files: { rule: string; path: string; paths: Set<string>; content: Buffer; report: RedactedFile }[] = [];
  private sorted: Secret[] | null = null;

  constructor(rules: RedactRule[], cwd: string) {
    this.rules = rules;
    const headers = rules.filter((r): r is Extract<RedactRule, { kind: 'header' }> => r.kind === 'header').map((r) => r.name);
    this.headerRe = headers.length
      ? new RegExp(`(^|\\n)(${headers.map((h) => h.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})[ \\t]*:[ \\t]*([^\\r\\n]*)`, 'gi')
      : null;
    for (const r of rules) {
      if (r.kind === 'bytes') this.learn(Buffer.from(r.text), ruleText(r), null);
      if (r.kind === 'file') {
        const abs = path.resolve(cwd, r.path);
        let content: Buffer;
        try {
          content = fs.readFileSync(abs);
        } catch (e) {
          throw new ReplaybookError('redact_file_unreadable', `cannot read ${abs} to keep it out of the recording (--redact-file): ${(e as Error).message}`);
        }
        const paths = new Set([abs]);
        try {
          paths.add(fs.realpathSync(abs));
        } catch {
          // read above, so it exists; a race is harmless here
        }
        const rule = ruleText({ kind: 'file', path: abs });
        this.files.push({ rule, path: abs, paths, content, report: { path: abs, sha256: sha256File(abs), size: content.length, restore: [], mapped: false } });
        this.learn(content, rule, null);
      }
    }
  }

  private appliedFor(rule: string): Applied {
    let a = this.applied.get(rule);
    if (!a) this.applied.set(rule, (a = new Applied(rule)));
    return a;
  }

  private learn(value: Buffer, rule: string, name: string | null): void {
    if (name !== null) this.appliedFor(rule).names.add(name);
    if (value.length < MIN_SEARCHED_SECRET) return;
    const key = value.toString('hex');
    if (this.secrets.has(key)) return;
    this.secrets.set(key, { bytes: Buffer.from(value), rule });
    this.sorted = null;
  }

  /** Replaces every known secret in a string (same length in bytes). */
  private redactText(s: string, onHit: (rule: string) => void): string {
    const b = Buffer.from(s, 'utf8');
    let hit = false;
    for (const sec of this.secretsLongestFirst()) {
      if (replaceAll(b, sec.bytes).length) {
        hit = true;
        onHit(sec.rule);
      }
    }
    return hit ? b.toString('utf8') : s;
  }

  /**
   * The environment and arguments as the store (and every replay) will have them: values of
   * variables matching an env rule, and any known secret inside other values, replaced.
   */
  command(env: string[], argv: string[]): { env: string[]; argv: string[] } {
    const envRules = this.rules.filter((r): r is Extract<RedactRule, { kind: 'env' }> => r.kind === 'env').map((r) => ({ text: ruleText(r), re: globRegExp(r.pattern) }));
    // Learn every env secret first, so a value repeated in another variable or an argument is
    // replaced there too.
    for (const e of env) {
      const eq = e.indexOf('=');
      if (eq <= 0) continue;
      const name = e.slice(0, eq);
      const value = e.slice(eq + 1);
      const rule = envRules.find((r) => r.re.test(name));
      if (!rule || value.length === 0) continue;
      this.learn(Buffer.from(value), rule.text, name);
    }
    const mark = (rule: string): void => {
      this.appliedFor(rule).inCommand = true;
    };
    const outEnv = env.map((e) => {
      const eq = e.indexOf('=');
      if (eq <= 0) return e;
      const name = e.slice(0, eq);
      const value = e.slice(eq + 1);
      const rule = envRules.find((r) => r.re.test(name));
      // A short value is replaced in its own variable only.
      if (rule && value.length > 0 && Buffer.byteLength(value) < MIN_SEARCHED_SECRET) {
        mark(rule.text);
        return `${name}=${'*'.repeat(Buffer.byteLength(value))}`;
      }
      return `${name}=${this.redactText(value, mark)}`;
    });
    const outArgv = argv.map((a) => this.redactText(a, mark));
    return { env: outEnv, argv: outArgv };
  }

  /** Learns the header credentials in recorded bytes (engine batches). */
  collect(batch: EventColumns): void {
    this.collectIn(fromEngine(batch));
  }

  private collectIn(c: ByteColumns): void {
    if (!this.headerRe) return;
    for (const [column, col] of c.columns) {
      if (column === 'resource') continue;
      for (let i = 0; i < c.n; i++) {
        const b = cell(col, i);
        if (b.length < 4 || b.indexOf(0x3a) < 0) continue;
        const text = latin1(b);
        this.headerRe.lastIndex = 0;
        for (let m = this.headerRe.exec(text); m; m = this.headerRe.exec(text)) {
          const header = m[2];
          const rule = ruleText(this.rules.find((r) => r.kind === 'header' && r.name.toLowerCase() === header.toLowerCase()) ?? { kind: 'header', name: header });
          for (const v of headerSecrets(header, m[3])) if (v.length > 0) this.learn(Buffer.from(v, 'latin1'), rule, header);
        }
      }
    }
  }

  private secretsLongestFirst(): Secret[] {
    this.sorted ??= [...this.secrets.values()].sort((a, b) => b.bytes.length - a.bytes.length);
    return this.sorted;
  }

  /** Replaces every known secret, and the bytes redacted files gave to reads, in engine batches. */
  apply(batch: EventColumns): void {
    this.applyIn(fromEngine(batch), true);
  }

  private applyIn(c: ByteColumns, recording: boolean): void {
    const secrets = this.secretsLongestFirst();
    for (let i = 0; i < c.n; i++) {
      const seq = Number(c.seq[i]);
      for (const f of this.files) {
        const res = latin1(cell(c.resource, i));
        if (!res.startsWith('file:') || !f.paths.has(res.slice(5))) continue;
        const out = cell(c.columns[1][1], i);
        if (out.length === 0) continue;
        const at = f.content.indexOf(out);
        if (at < 0) continue;
        out.fill(PLACEHOLDER);
        if (recording) f.report.restore.push([seq, 1, 0, out.length, at]);
        this.appliedFor(f.rule).add(seq, 'data_out', [[0, out.length]]);
      }
      c.columns.forEach(([column, col], k) => {
        const b = cell(col, i);
        if (b.length < MIN_SEARCHED_SECRET) return;
        const byRule = new Map<string, [number, number][]>();
        for (const s of secrets) {
          if (s.bytes.length > b.length) continue;
          for (const at of replaceAll(b, s.bytes)) {
            let list = byRule.get(s.rule);
            if (!list) byRule.set(s.rule, (list = []));
            list.push([at, s.bytes.length]);
            const file = recording ? this.files.find((f) => f.rule === s.rule) : undefined;
            file?.report.restore.push([seq, k, at, s.bytes.length, 0]);
          }
        }
        for (const [rule, ranges] of byRule) this.appliedFor(rule).add(seq, column, ranges);
      });
    }
  }

  /**
   * A replay's own events: header credentials it wrote and any known secret (byte rules, the
   * contents of redacted files, which a replay reads from the real file) replaced before the run
   * is stored.
   */
  applyToRun(batch: RecordBatch): void {
    const c = fromBatch(batch);
    this.collectIn(c);
    this.applyIn(c, false);
  }

  /** Redacts bytes outside the event log (a divergence report's data). */
  redactBytes(b: Buffer): void {
    for (const s of this.secretsLongestFirst()) replaceAll(b, s.bytes);
  }

  /** Marks files the service mapped: their blobs are not stored either. */
  mappedFiles(files: Iterable<string>): Set<string> {
    const out = new Set<string>();
    for (const p of files) {
      const f = this.files.find((x) => x.paths.has(p));
      if (f) {
        f.report.mapped = true;
        out.add(p);
      }
    }
    return out;
  }

  /** Every value searched for in recorded bytes, longest first (a stored part redacted later). */
  secretValues(): Buffer[] {
    return this.secretsLongestFirst().map((s) => s.bytes);
  }

  report(): RedactionReport {
    return {
      rules: this.rules.map(ruleText),
      applied: [...this.applied.values()].filter((a) => a.names.size > 0 || a.inCommand || a.eventSeqs.size > 0).map((a) => a.report()),
      files: this.files.map((f) => f.report),
    };
  }
}

/** Overwrites every occurrence of `needle` in `b` with placeholders; returns where they were. */
function replaceAll(b: Buffer, needle: Buffer): number[] {
  const hits: number[] = [];
  if (needle.length === 0) return hits;
  for (let at = b.indexOf(needle); at >= 0; at = b.indexOf(needle, at + needle.length)) {
    hits.push(at);
    b.fill(PLACEHOLDER, at, at + needle.length);
  }
  return hits;
}

/** A Redactor for a replay of an incident recorded with these rules. */
export function runRedactor(report: RedactionReport | undefined, cwd: string): Redactor | null {
  if (!report) return null;
  // Env rules have nothing to find in a replay: its environment holds the placeholders already.
  const rules = report.rules.map(parseStoredRule).filter((r): r is RedactRule => r !== null && r.kind !== 'env');
  // Redacted files are checked by hash before a replay; read them from where they were recorded.
  return new Redactor(rules.map((r) => (r.kind === 'file' ? { kind: 'file', path: r.path } : r)), cwd);
}

function parseStoredRule(text: string): RedactRule | null {
  try {
    return parseRedactRule(text);
  } catch {
    return null; // a rule of a newer replaybook: nothing this one can apply
  }
}

/**
 * The rules whose placeholders the service could have been given by the time it reached `seq`:
 * through its environment or arguments, a redacted read before it, or the event itself.
 */
export function rulesBefore(report: RedactionReport | undefined, seq: number): string[] {
  if (!report) return [];
  return report.applied
    .filter((a) => a.inCommand || a.events.some((e) => e.seq === seq || (e.column !== 'data_in' && e.seq < seq)))
    .map((a) => (a.names.length ? `${a.rule} (${a.names.join(', ')})` : a.rule));
}

/**
 * Before a replay: each redacted file must be on this machine with the recorded hash. Returns
 * the patches to put its bytes back into the reads the recording redacted.
 */
export function checkRedactedFiles(report: RedactionReport | undefined, incident: string): RedactedFile[] {
  const files = report?.files ?? [];
  for (const f of files) {
    let sha: string;
    try {
      sha = sha256File(f.path);
    } catch {
      throw new ReplaybookError(
        'redacted_file_missing',
        `incident '${incident}' was recorded with ${f.path} kept out of the store (--redact-file): the replay needs that file here, and it is missing`,
      );
    }
    if (sha !== f.sha256) {
      throw new ReplaybookError(
        'redacted_file_changed',
        `incident '${incident}' was recorded with ${f.path} kept out of the store (--redact-file): the file here differs from the recorded one (sha256 ${sha.slice(0, 12)}..., recorded ${f.sha256.slice(0, 12)}...); put the recorded version in place`,
      );
    }
  }
  return files;
}

const RESTORED_COLUMNS = ['data_in', 'data_out', 'resource'] as const;

/**
 * Puts the real bytes of redacted files back where the recording replaced them (replay input),
 * so the service reads the file's bytes and what it writes from them matches.
 */
export function restoreFileReads(batch: RecordBatch, files: RedactedFile[], contents: Map<string, Buffer>): void {
  if (files.length === 0) return;
  const patches = new Map<number, { content: Buffer; column: number; start: number; length: number; offset: number }[]>();
  for (const f of files) {
    const content = contents.get(f.path) ?? fs.readFileSync(f.path);
    contents.set(f.path, content);
    for (const [seq, column, start, length, offset] of f.restore) {
      let list = patches.get(seq);
      if (!list) patches.set(seq, (list = []));
      list.push({ content, column, start, length, offset });
    }
  }
  const seqs = seqColumn(batch);
  const cols = RESTORED_COLUMNS.map((name) => binaryColumn(batch, name));
  for (let i = 0; i < batch.numRows; i++) {
    for (const p of patches.get(Number(seqs[i])) ?? []) {
      const b = cell(cols[p.column], i);
      if (p.start + p.length > b.length || p.offset + p.length > p.content.length) continue;
      p.content.copy(b, p.start, p.offset, p.offset + p.length);
    }
  }
}
