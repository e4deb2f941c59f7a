// Applying timeout injections before a replay starts: the recorded command line and environment
// (applyToCommand) and the config files the service reads (rewriteConfig). Pure functions: they
// return new values and say what they changed; anything that does not fit the recording (a flag
// the command does not have, a key the file does not hold) is an error that says so.
//
// Config files are edited in place: only the bytes of the value change; every other byte of the
// file (comments, spacing, key order, line endings, other encodings' bytes) stays as it was.
// The file is scanned as bytes (latin1), keys compared as UTF-8.
import { InjectionApplyError } from './errors';
import { describeInjection } from './describe';
import type { Injection, TimeoutInjection } from './types';

export interface CommandChange {
  /** The injection's id. */
  id: string;
  target: 'env' | 'arg';
  /** The variable or flag. */
  name: string;
  /** Index of the changed word in the new argv or env. */
  index: number;
  /** The value before (null: the variable was not set). */
  before: string | null;
  after: string;
}

export interface CommandRewrite {
  argv: string[];
  env: string[];
  changes: CommandChange[];
  /** Injections left out (with `absent: 'skip'`): a flag the command does not have. */
  skipped: { id: string; reason: string }[];
}

export interface ApplyOptions {
  /** A flag absent from the command: an error (default), or left out and listed in `skipped`. */
  absent?: 'error' | 'skip';
}

function isTimeout(i: Injection): i is TimeoutInjection {
  return i.kind === 'timeout';
}

/**
 * Applies the env: and arg: timeouts to a recorded command. env:NAME sets the variable, or
 * replaces its value wherever it is set. arg:--flag replaces the value in `--flag=V` and in
 * `--flag V` (every occurrence before a `--`; argv[0] is the program and is never a flag). Other
 * injections are ignored. Applied in list order, so of two timeouts on one name the last wins.
 */
export function applyToCommand(argv: readonly string[], env: readonly string[], injections: readonly Injection[], opts: ApplyOptions = {}): CommandRewrite {
  const out: CommandRewrite = { argv: [...argv], env: [...env], changes: [], skipped: [] };
  for (const inj of injections.filter(isTimeout)) {
    const t = inj.target;
    if (t.type === 'env') {
      const prefix = t.name + '=';
      let found = false;
      out.env.forEach((e, index) => {
        if (!e.startsWith(prefix)) return;
        out.env[index] = prefix + inj.value;
        out.changes.push({ id: inj.id, target: 'env', name: t.name, index, before: e.slice(prefix.length), after: inj.value });
        found = true;
      });
      if (!found) {
        out.env.push(prefix + inj.value);
        out.changes.push({ id: inj.id, target: 'env', name: t.name, index: out.env.length - 1, before: null, after: inj.value });
      }
    } else if (t.type === 'arg') {
      const f = t.flag;
      let found = false;
      for (let i = 1; i < out.argv.length; i++) {
        const a = out.argv[i];
        if (a === '--') break;
        if (a === f) {
          if (i + 1 >= out.argv.length) {
            throw new InjectionApplyError('inject_flag_value', `${inj.spec}: ${f} is the last word of the recorded command; no value follows it to change (${commandText(argv)})`);
          }
          out.changes.push({ id: inj.id, target: 'arg', name: f, index: i + 1, before: out.argv[i + 1], after: inj.value });
          out.argv[i + 1] = inj.value;
          found = true;
          i++;
        } else if (a.startsWith(f + '=')) {
          out.changes.push({ id: inj.id, target: 'arg', name: f, index: i, before: a.slice(f.length + 1), after: inj.value });
          out.argv[i] = `${f}=${inj.value}`;
          found = true;
        }
      }
      if (!found) {
        const attached = /^-[^-]$/.test(f) && out.argv.slice(1).some((a) => a.startsWith(f) && a.length > f.length);
        const reason =
          `the recorded command has no ${f} (neither '${f} V' nor '${f}=V'` +
          `${attached ? `; a value attached to a short flag, ${f}V, is not recognised` : ''}): ${commandText(argv)}`;
        if (opts.absent === 'skip') out.skipped.push({ id: inj.id, reason });
        else throw new InjectionApplyError('inject_flag_absent', `${inj.spec}: ${reason}`);
      }
    }
  }
  return out;
}

function commandText(argv: readonly string[]): string {
  const shown = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ');
  return shown.length > 200 ? shown.slice(0, 199) + '…' : shown;
}

export type ConfigFormat = 'keyvalue' | 'ini' | 'json' | 'yaml';

export interface ConfigChange {
  /** 1-based line of the value. */
  line: number;
  /** The key as found (section.key for INI, the dotted path for JSON and YAML). */
  key: string;
  before: string;
  after: string;
}

export interface ConfigRewrite {
  content: Buffer;
  format: ConfigFormat;
  changes: ConfigChange[];
}

/** A value's bytes in the file and the text to put there. */
interface Splice {
  start: number;
  end: number;
  text: string;
  change: ConfigChange;
}

function configError(code: string, path: string, msg: string): InjectionApplyError {
  return new InjectionApplyError(code, `${path}: ${msg}`);
}

const utf8 = (latin1: string) => Buffer.from(latin1, 'latin1').toString('utf8');
const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

interface Line {
  /** Byte offsets of the line's text (without its line ending). */
  start: number;
  end: number;
  n: number;
}

function lines(text: string): Line[] {
  const out: Line[] = [];
  let start = 0;
  let n = 1;
  while (start <= text.length) {
    const nl = text.indexOf('\n', start);
    let end = nl < 0 ? text.length : nl;
    if (end > start && text[end - 1] === '\r') end--;
    out.push({ start, end, n: n++ });
    if (nl < 0) break;
    start = nl + 1;
  }
  return out;
}

/**
 * The format of a config file: by extension (.json, .yaml/.yml, .ini/.cfg/.toml, .env and
 * .properties are key=value), else by content: JSON when it starts with '{', INI when it has a
 * [section] line, JSON when it starts with '[', else YAML when it has more `key: value` lines
 * than `key=value` lines, else key=value.
 */
export function detectConfigFormat(path: string, content: Buffer): ConfigFormat {
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1].toLowerCase();
  if (ext === 'json') return 'json';
  if (ext === 'yaml' || ext === 'yml') return 'yaml';
  if (ext === 'ini' || ext === 'cfg' || ext === 'toml') return 'ini';
  if (ext === 'env' || ext === 'properties') return 'keyvalue';
  const text = content.toString('latin1');
  if (/^\s*\{/.test(text)) return 'json';
  if (/^[ \t]*\[[^\]\r\n]+\][ \t]*\r?$/m.test(text)) return 'ini';
  if (/^\s*\[/.test(text)) return 'json';
  const kv = text.match(/^[ \t]*(?:export[ \t]+)?[\w.-]+[ \t]*=/gm)?.length ?? 0;
  const yaml = text.match(/^[ \t]*[^\s#:=-][^:=\r\n]*:(?:[ \t]|\r?$)/gm)?.length ?? 0;
  return yaml > kv ? 'yaml' : 'keyvalue';
}

/**
 * Changes one key of a config file to `value` and returns the new content; every other byte is
 * kept. Formats: key=value (`export K=V` too, quotes kept), INI (`section.key` or a bare key
 * found in one section only), JSON (a dotted path; a number stays a number, a string a string),
 * YAML (`key: value`, a dotted path through mappings nested by indentation). A key that is not
 * in the file is an InjectionApplyError (code config_key_absent).
 */
export function rewriteConfig(content: Buffer, path: string, key: string, value: string, opts: { format?: ConfigFormat } = {}): Buffer {
  return editConfig(content, path, key, value, opts).content;
}

/** rewriteConfig, with the format used and each change made (a key set more than once in the
 * file is changed everywhere). */
export function editConfig(content: Buffer, path: string, key: string, value: string, opts: { format?: ConfigFormat } = {}): ConfigRewrite {
  const format = opts.format ?? detectConfigFormat(path, content);
  const text = content.toString('latin1');
  const splices =
    format === 'json' ? jsonSplices(text, path, key, value) : format === 'yaml' ? yamlSplices(text, path, key, value) : lineSplices(text, path, key, value, format);
  splices.sort((a, b) => b.start - a.start);
  let out = content;
  for (const s of splices) out = Buffer.concat([out.subarray(0, s.start), Buffer.from(s.text, 'latin1'), out.subarray(s.end)]);
  return { content: out, format, changes: splices.reverse().map((s) => s.change) };
}

/**
 * Applies the file: timeouts for `path` to its content (in list order). Returns the content
 * unchanged, with no changes, when none targets it.
 */
export function applyToFile(content: Buffer, path: string, injections: readonly Injection[]): { content: Buffer; changes: (ConfigChange & { id: string })[] } {
  let cur = content;
  const changes: (ConfigChange & { id: string })[] = [];
  for (const inj of injections.filter(isTimeout)) {
    if (inj.target.type !== 'file' || inj.target.path !== path) continue;
    try {
      const r = editConfig(cur, path, inj.target.key, inj.value);
      cur = r.content;
      for (const c of r.changes) changes.push({ id: inj.id, ...c });
    } catch (e) {
      if (e instanceof InjectionApplyError) throw new InjectionApplyError(e.code, `${describeInjection(inj)}: ${e.message}`);
      throw e;
    }
  }
  return { content: cur, changes };
}

/** Where a scalar's text is on a line: [start, end) without quotes, and the quote used. */
interface ValueSpan {
  start: number;
  end: number;
  quote: '"' | "'" | null;
}

/** The value after '=' or ':' from `from` to `end`: quoted, or up to an inline comment. */
function valueSpan(text: string, from: number, end: number, commentChars: string): ValueSpan {
  let p = from;
  while (p < end && (text[p] === ' ' || text[p] === '\t')) p++;
  const q = text[p];
  if ((q === '"' || q === "'") && p < end) {
    let i = p + 1;
    while (i < end && text[i] !== q) i += text[i] === '\\' && q === '"' ? 2 : 1;
    if (i < end) return { start: p + 1, end: i, quote: q };
  }
  let e = end;
  for (let i = p; i < end; i++) {
    if (commentChars.includes(text[i]) && (i === p || text[i - 1] === ' ' || text[i - 1] === '\t')) {
      e = i;
      break;
    }
  }
  while (e > p && (text[e - 1] === ' ' || text[e - 1] === '\t')) e--;
  return { start: p, end: e, quote: null };
}

/** An empty value right before a comment (`key = # note`) gets a space after the new value, so
 * the comment stays a comment. */
function spaceBeforeComment(text: string, span: ValueSpan, commentChars: string): string {
  return span.quote === null && span.start === span.end && span.end < text.length && commentChars.includes(text[span.end]) ? ' ' : '';
}

function quoted(value: string, quote: '"' | "'" | null): string {
  if (quote === '"') return value.replace(/[\\"]/g, (c) => '\\' + c);
  if (quote === "'") return value.replace(/'/g, "''");
  return value;
}

interface Entry {
  section: string | null;
  key: string;
  line: Line;
  span: ValueSpan;
}

/** key=value and INI: one entry per `key = value` line, with its section. */
function lineSplices(text: string, path: string, key: string, value: string, format: 'keyvalue' | 'ini'): Splice[] {
  const entries: Entry[] = [];
  let section: string | null = null;
  for (const l of lines(text)) {
    const s = text.slice(l.start, l.end);
    const head = /^[ \t]*\[([^\]]*)\][ \t]*(?:[#;].*)?$/.exec(s);
    if (format === 'ini' && head) {
      section = utf8(head[1].trim());
      continue;
    }
    if (/^[ \t]*([#;!]|$)/.test(s)) continue;
    const m = format === 'ini' ? /^([ \t]*)([^=:]*?)[ \t]*[=:]/.exec(s) : /^([ \t]*)(?:export[ \t]+)?([^\s=]+)[ \t]*=/.exec(s);
    if (!m || m[2] === '') continue;
    const span = valueSpan(text, l.start + m[0].length, l.end, format === 'ini' ? '#;' : '#');
    entries.push({ section, key: utf8(m[2]), line: l, span });
  }
  let hits: Entry[];
  if (format === 'ini') {
    const dotted: Entry[] = [];
    for (let i = key.indexOf('.'); i >= 0; i = key.indexOf('.', i + 1)) {
      const sec = key.slice(0, i);
      const k = key.slice(i + 1);
      dotted.push(...entries.filter((e) => e.section === sec && e.key === k));
    }
    hits = dotted.length ? dotted : entries.filter((e) => e.key === key);
    const sections = [...new Set(hits.map((e) => e.section))];
    if (!dotted.length && sections.length > 1) {
      const names = sections.map((s) => (s === null ? '(top)' : `[${s}]`)).join(', ');
      throw configError('config_key_ambiguous', path, `'${key}' is in several sections (${names}); name one as section.${key}`);
    }
  } else {
    hits = entries.filter((e) => e.key === key);
  }
  if (!hits.length) {
    const known = [...new Set(entries.map((e) => (e.section !== null ? `${e.section}.${e.key}` : e.key)))];
    throw configError('config_key_absent', path, `no key '${key}' in this ${format === 'ini' ? 'INI' : 'key=value'} file${known.length ? ` (it has: ${list(known)})` : ''}`);
  }
  return hits.map((e) => ({
    start: e.span.start,
    end: e.span.end,
    text: latin1(quoted(value, e.span.quote)) + spaceBeforeComment(text, e.span, format === 'ini' ? '#;' : '#'),
    change: { line: e.line.n, key: e.section !== null ? `${e.section}.${e.key}` : e.key, before: utf8(text.slice(e.span.start, e.span.end)), after: value },
  }));
}

function list(keys: string[]): string {
  return keys.slice(0, 12).join(', ') + (keys.length > 12 ? `, … ${keys.length} in all` : '');
}

// ---- JSON: a small parser that keeps every value's byte span ----

type JsonNode =
  | { kind: 'object'; start: number; end: number; entries: { key: string; value: JsonNode }[] }
  | { kind: 'array'; start: number; end: number; items: JsonNode[] }
  | { kind: 'string' | 'number' | 'literal'; start: number; end: number };

class JsonScanner {
  pos = 0;
  constructor(
    readonly text: string,
    readonly path: string,
  ) {}

  fail(what: string): never {
    throw configError('config_format', this.path, `not valid JSON at byte ${this.pos}: ${what}`);
  }

  /** Whitespace, and // and block comments (JSON with comments is common in configs). */
  ws(): void {
    const t = this.text;
    for (;;) {
      while (this.pos < t.length && ' \t\r\n'.includes(t[this.pos])) this.pos++;
      if (t.startsWith('//', this.pos)) {
        const nl = t.indexOf('\n', this.pos);
        this.pos = nl < 0 ? t.length : nl + 1;
      } else if (t.startsWith('/*', this.pos)) {
        const e = t.indexOf('*/', this.pos + 2);
        if (e < 0) this.fail('unterminated comment');
        this.pos = e + 2;
      } else return;
    }
  }

  value(depth: number): JsonNode {
    if (depth > 200) this.fail('nested too deeply');
    this.ws();
    const t = this.text;
    const start = this.pos;
    const c = t[this.pos];
    if (c === '{') {
      this.pos++;
      const entries: { key: string; value: JsonNode }[] = [];
      this.ws();
      while (t[this.pos] !== '}') {
        if (t[this.pos] !== '"') this.fail('expected a key');
        const k = this.string();
        let key: string;
        try {
          key = JSON.parse(utf8(t.slice(k.start, k.end))) as string;
        } catch {
          this.fail('bad string');
        }
        this.ws();
        if (t[this.pos] !== ':') this.fail("expected ':'");
        this.pos++;
        entries.push({ key, value: this.value(depth + 1) });
        this.ws();
        if (t[this.pos] === ',') {
          this.pos++;
          this.ws();
        } else if (t[this.pos] !== '}') this.fail("expected ',' or '}'");
      }
      this.pos++;
      return { kind: 'object', start, end: this.pos, entries };
    }
    if (c === '[') {
      this.pos++;
      const items: JsonNode[] = [];
      this.ws();
      while (t[this.pos] !== ']') {
        items.push(this.value(depth + 1));
        this.ws();
        if (t[this.pos] === ',') {
          this.pos++;
          this.ws();
        } else if (t[this.pos] !== ']') this.fail("expected ',' or ']'");
      }
      this.pos++;
      return { kind: 'array', start, end: this.pos, items };
    }
    if (c === '"') return { kind: 'string', ...this.string() };
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(t.slice(this.pos, this.pos + 400));
    if (m && m[0].length) {
      this.pos += m[0].length;
      return { kind: 'number', start, end: this.pos };
    }
    for (const lit of ['true', 'false', 'null']) {
      if (t.startsWith(lit, this.pos)) {
        this.pos += lit.length;
        return { kind: 'literal', start, end: this.pos };
      }
    }
    return this.fail(this.pos >= t.length ? 'unexpected end' : `unexpected '${t[this.pos]}'`);
  }

  /** A string token from its opening quote: its span, quotes included. */
  string(): { start: number; end: number } {
    const t = this.text;
    const start = this.pos;
    let i = this.pos + 1;
    while (i < t.length && t[i] !== '"') {
      if (t[i] === '\\') i++;
      else if (t.charCodeAt(i) < 0x20) {
        this.pos = i;
        this.fail('control character in a string');
      }
      i++;
    }
    if (i >= t.length) this.fail('unterminated string');
    this.pos = i + 1;
    return { start, end: this.pos };
  }
}

/** Nodes at a dotted path; a key may itself hold dots ({"a.b": 1} is found as a.b). */
function jsonFind(node: JsonNode, segs: string[], i: number): JsonNode[] {
  if (i === segs.length) return [node];
  if (node.kind === 'array') {
    const seg = segs[i];
    if (!/^\d+$/.test(seg) || Number(seg) >= node.items.length) return [];
    return jsonFind(node.items[Number(seg)], segs, i + 1);
  }
  if (node.kind !== 'object') return [];
  const out: JsonNode[] = [];
  for (let j = i + 1; j <= segs.length; j++) {
    const k = segs.slice(i, j).join('.');
    for (const e of node.entries) if (e.key === k) out.push(...jsonFind(e.value, segs, j));
  }
  return out;
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function jsonSplices(text: string, path: string, key: string, value: string): Splice[] {
  const sc = new JsonScanner(text, path);
  const root = sc.value(0);
  sc.ws();
  if (sc.pos < text.length) sc.fail('text after the document');
  const hits = jsonFind(root, key.split('.'), 0);
  if (!hits.length) {
    const top = root.kind === 'object' ? root.entries.map((e) => e.key) : [];
    throw configError('config_key_absent', path, `no '${key}' in this JSON file${top.length ? ` (its top-level keys: ${list(top)})` : ''}`);
  }
  return hits.map((n) => {
    if (n.kind === 'object' || n.kind === 'array') throw configError('config_not_scalar', path, `'${key}' is an ${n.kind}, not a value`);
    let out: string;
    if (n.kind === 'string') out = JSON.stringify(value);
    else if (JSON_NUMBER.test(value)) out = value;
    else if (n.kind === 'number') throw configError('config_type', path, `'${key}' is a number in the file; '${value}' is not a JSON number`);
    else out = value === 'true' || value === 'false' || value === 'null' ? value : JSON.stringify(value);
    const line = text.slice(0, n.start).split('\n').length;
    return { start: n.start, end: n.end, text: latin1(out), change: { line, key, before: utf8(text.slice(n.start, n.end)), after: out } };
  });
}

// ---- YAML: block mappings nested by indentation, one scalar per line ----

interface YamlLine {
  line: Line;
  indent: number;
  /** null: not a `key: value` line (a sequence item, a continuation...). */
  key: string | null;
  /** Offset just after the key's ':'. */
  afterColon: number;
}

function yamlLines(text: string): YamlLine[] {
  const out: YamlLine[] = [];
  for (const l of lines(text)) {
    const s = text.slice(l.start, l.end);
    if (/^\s*(#|$)/.test(s) || /^(---|\.\.\.)(\s|$)/.test(s)) continue;
    const indent = /^ */.exec(s)![0].length;
    const body = s.slice(indent);
    let key: string | null = null;
    let after = -1;
    const q = body[0];
    if (q === '"' || q === "'") {
      const m = q === '"' ? /^"((?:[^"\\]|\\.)*)"[ \t]*:(?=[ \t]|$)/.exec(body) : /^'((?:[^']|'')*)'[ \t]*:(?=[ \t]|$)/.exec(body);
      if (m) {
        try {
          key = q === '"' ? (JSON.parse(`"${utf8(m[1])}"`) as string) : utf8(m[1]).replace(/''/g, "'");
        } catch {
          key = utf8(m[1]);
        }
        after = l.start + indent + m[0].length;
      }
    } else if (!/^[-?]([ \t]|$)/.test(body) && !'#&*!|>%@`{['.includes(body[0])) {
      const m = /^([^#]*?)[ \t]*:(?=[ \t]|$)/.exec(body);
      if (m && m[1] !== '') {
        key = utf8(m[1]);
        after = l.start + indent + m[0].length;
      }
    }
    out.push({ line: l, indent, key, afterColon: after });
  }
  return out;
}

/** Indexes (in ys) of the key lines at a dotted path, from range [a, b). */
function yamlFind(ys: YamlLine[], a: number, b: number, segs: string[], i: number): { at: number; end: number }[] {
  if (a >= b) return [];
  let level = Infinity;
  for (let k = a; k < b; k++) level = Math.min(level, ys[k].indent);
  const out: { at: number; end: number }[] = [];
  for (let k = a; k < b; k++) {
    const y = ys[k];
    if (y.indent !== level || y.key === null) continue;
    let end = k + 1;
    while (end < b && ys[end].indent > level) end++;
    for (let j = i + 1; j <= segs.length; j++) {
      if (y.key !== segs.slice(i, j).join('.')) continue;
      if (j === segs.length) out.push({ at: k, end });
      else out.push(...yamlFind(ys, k + 1, end, segs, j));
    }
  }
  return out;
}

const YAML_PLAIN = /^[^\s#:'"{}[\],&*!|>%@`?-](?:[^#:]|:(?!\s)|#(?<!\s#))*$/;

function yamlSplices(text: string, path: string, key: string, value: string): Splice[] {
  const ys = yamlLines(text);
  const hits = yamlFind(ys, 0, ys.length, key.split('.'), 0);
  if (!hits.length) {
    let top = Infinity;
    for (const y of ys) top = Math.min(top, y.indent);
    const keys = ys.filter((y) => y.indent === top && y.key !== null).map((y) => y.key as string);
    throw configError('config_key_absent', path, `no '${key}' in this YAML file${keys.length ? ` (its top-level keys: ${list(keys)})` : ''}`);
  }
  return hits.map(({ at, end }) => {
    const y = ys[at];
    const span = valueSpan(text, y.afterColon, y.line.end, '#');
    const raw = text.slice(span.start, span.end);
    if (span.quote === null && raw === '' && end > at + 1) throw configError('config_not_scalar', path, `'${key}' is a mapping or a list, not a value`);
    if (span.quote === null && /^[|>]/.test(raw)) throw configError('config_not_scalar', path, `'${key}' is a block scalar (| or >); only one-line values can be changed`);
    if (span.quote === null && /^[{[]/.test(raw)) throw configError('config_not_scalar', path, `'${key}' is a flow collection, not a value`);
    let out: string;
    if (span.quote === '"') out = JSON.stringify(value).slice(1, -1);
    else if (span.quote === "'") out = value.replace(/'/g, "''");
    else out = YAML_PLAIN.test(value) && value.trim() === value ? value : JSON.stringify(value);
    // `key:` with nothing after it (null): the value goes after one space.
    const start = span.start;
    const lead = raw === '' && span.quote === null && text[y.afterColon] !== ' ' && text[y.afterColon] !== '\t' ? ' ' : '';
    const insert = lead + out + spaceBeforeComment(text, span, '#');
    return { start, end: span.end, text: latin1(insert), change: { line: y.line.n, key, before: utf8(raw), after: out } };
  });
}
