// The notebook's sql`...` tag: ClickHouse SQL over the event log with the interpolated values sent
// as query parameters ({rb_p0:String}), never pasted into the text. What cannot be a parameter is
// written as a constant the tag builds itself (NULL, true, nan) or refused; identifiers go through
// sql.id(), which quotes them; sql.raw() is the one way to paste text, and says so in its name.
import { ReplaybookError } from '../errors';

/** A value that stands for something in SQL (an incident: its id; a run: its run id). */
export const SQL_VALUE = Symbol.for('replaybook.sql.value');

export interface SqlValueLike {
  [SQL_VALUE](): unknown;
}

/** Parameter values as the store's query() takes them. */
export type SqlParams = Record<string, string | number | bigint>;

/** A query ready for EventStore.query(text, params). */
export interface SqlQuery {
  text: string;
  params: SqlParams;
}

/** A piece of SQL built by the tag (or sql.id / sql.raw), to put inside another query. */
export class SqlFragment {
  /** @internal */
  constructor(
    readonly strings: readonly string[],
    readonly values: readonly unknown[],
  ) {
    if (strings.length !== values.length + 1) throw new Error('SqlFragment: strings must be one more than values');
  }
  toString(): string {
    return toQuery(this).text;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function hasSqlValue(x: object): x is SqlValueLike {
  return typeof (x as Partial<SqlValueLike>)[SQL_VALUE] === 'function';
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return (x as { constructor?: { name?: string } }).constructor?.name ?? 'object';
}

/** `2024-05-01 12:00:00.123`, the form ClickHouse parses a DateTime64(3) parameter from. */
function dateText(d: Date): string {
  if (Number.isNaN(d.getTime())) throw new ReplaybookError('sql_value', 'sql: an invalid Date cannot be a query parameter');
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/**
 * The query text with `{rb_pN:Type}` placeholders and the parameters they name. Values:
 * strings (String), safe integers (Int64), other numbers (Float64; NaN and ±Infinity as nan/inf),
 * bigints (Int64, or UInt64 above its range), booleans and null/undefined (true, false, NULL),
 * Dates (DateTime64(3, 'UTC')), bytes (unhex of a hex String), arrays (an array of those), an
 * incident or a run (its id), and fragments (sql.fragment`...`, sql.id, sql.raw).
 */
export function toQuery(fragment: SqlFragment): SqlQuery {
  const params: SqlParams = {};
  let n = 0;
  const param = (type: string, value: string | number | bigint): string => {
    const name = `rb_p${n++}`;
    params[name] = value;
    return `{${name}:${type}}`;
  };
  const value = (v: unknown, depth: number): string => {
    if (depth > 32) throw new ReplaybookError('sql_value', 'sql: values nest too deep');
    if (v === null || v === undefined) return 'NULL';
    switch (typeof v) {
      case 'string':
        return param('String', v);
      case 'boolean':
        return v ? 'true' : 'false';
      case 'number':
        if (Number.isNaN(v)) return 'nan';
        if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
        return Number.isSafeInteger(v) ? param('Int64', v) : param('Float64', v);
      case 'bigint':
        if (v >= INT64_MIN && v <= INT64_MAX) return param('Int64', v);
        if (v > INT64_MAX && v <= UINT64_MAX) return param('UInt64', v);
        throw new ReplaybookError('sql_value', `sql: ${v} does not fit in 64 bits`);
      case 'object':
        break;
      default:
        throw new ReplaybookError('sql_value', `sql: a ${typeof v} cannot be a query value`);
    }
    const o = v as object;
    if (o instanceof SqlFragment) return build(o, depth + 1);
    if (o instanceof Date) return param("DateTime64(3, 'UTC')", dateText(o));
    if (o instanceof Uint8Array) return `unhex(${param('String', Buffer.from(o.buffer, o.byteOffset, o.byteLength).toString('hex'))})`;
    if (Array.isArray(o)) return `[${o.map((x) => value(x, depth + 1)).join(', ')}]`;
    if (hasSqlValue(o)) return value(o[SQL_VALUE](), depth + 1);
    throw new ReplaybookError(
      'sql_value',
      `sql: a ${describe(o)} cannot be a query value (strings, numbers, bigints, booleans, dates, bytes, arrays, incidents and runs can; sql.id() names a column)`,
    );
  };
  const build = (f: SqlFragment, depth: number): string => {
    let text = f.strings[0];
    for (let i = 0; i < f.values.length; i++) text += value(f.values[i], depth) + f.strings[i + 1];
    return text;
  };
  return { text: build(fragment, 0), params };
}

/** A fragment from a tagged template: sql.fragment`incident_id = ${id}`. */
export function fragment(strings: TemplateStringsArray | readonly string[], ...values: unknown[]): SqlFragment {
  return new SqlFragment([...strings], values);
}

/**
 * An identifier (a column, table or alias name) quoted for ClickHouse: `name`, with backticks
 * and backslashes inside escaped. Dotted names (db.table) are quoted part by part.
 */
export function id(name: string, ...more: string[]): SqlFragment {
  const parts = [name, ...more];
  for (const p of parts) {
    if (typeof p !== 'string' || p.length === 0) throw new ReplaybookError('sql_value', 'sql.id: an identifier must be a non-empty string');
    if (p.includes('\0')) throw new ReplaybookError('sql_value', 'sql.id: an identifier cannot contain a NUL byte');
  }
  return new SqlFragment([parts.map((p) => '`' + p.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`').join('.')], []);
}

/** Text pasted into the query as it is. Never give it anything a user or a log supplied. */
export function raw(text: string): SqlFragment {
  if (typeof text !== 'string') throw new ReplaybookError('sql_value', 'sql.raw: expected a string');
  return new SqlFragment([text], []);
}

/** A list of fragments (or values) joined by `separator` (default ', '). */
export function join(items: readonly unknown[], separator = ', '): SqlFragment {
  if (items.length === 0) return new SqlFragment([''], []);
  return new SqlFragment(['', ...items.slice(1).map(() => separator), ''], [...items]);
}

/** Whether the arguments of sql(...) came from a tagged template. */
export function isTemplate(x: unknown): x is TemplateStringsArray {
  return Array.isArray(x) && Array.isArray((x as unknown as { raw?: unknown }).raw);
}
