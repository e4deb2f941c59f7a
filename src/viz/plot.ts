// Charts of query results: an Arrow table (what sql`...` returns) as a vega-lite 5 spec, with the
// field types taken from the Arrow schema (numbers quantitative, text nominal, timestamps
// temporal) and the rows made plain JSON (bigints as numbers, bytes as text).
import type { ChartSpec } from './render';
import { CHART_CONFIG, VEGA_LITE_SCHEMA } from './style';
import { DataType, type Table, type Vector } from 'apache-arrow';
import { ReplaybookError } from '../errors';

const decoder = new TextDecoder();

/** A value of an Arrow cell as JSON: bigints as numbers, bytes as text, lists as arrays. */
export function plainValue(v: unknown, depth = 0): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof Uint8Array) return decoder.decode(v);
  if (v instanceof Date) return v.getTime();
  if (depth > 4) return String(v);
  if (typeof (v as { toArray?: unknown }).toArray === 'function' && typeof (v as { length?: unknown }).length === 'number') {
    return Array.from((v as Vector).toArray() as ArrayLike<unknown>, (x) => plainValue(x, depth + 1));
  }
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return plainValue((v as { toJSON(): unknown }).toJSON(), depth + 1);
  if (Array.isArray(v)) return v.map((x) => plainValue(x, depth + 1));
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, plainValue(x, depth + 1)]));
  return String(v);
}

/** The first `limit` rows of a table as plain objects. */
export function tableRows(table: Table, limit = 10_000): Array<Record<string, unknown>> {
  const n = Math.min(table.numRows, limit);
  const cols = table.schema.fields.map((f) => ({ name: f.name, v: table.getChild(f.name) as Vector | null }));
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < n; i++) {
    const row: Record<string, unknown> = {};
    for (const c of cols) row[c.name] = plainValue(c.v?.get(i));
    out.push(row);
  }
  return out;
}

export type FieldType = 'quantitative' | 'nominal' | 'temporal';

/** How a column of the table is best encoded. */
export function fieldType(table: Table, name: string): FieldType {
  const f = table.schema.fields.find((x) => x.name === name);
  if (!f) throw new ReplaybookError('unknown_column', `the table has no column '${name}' (it has ${table.schema.fields.map((x) => x.name).join(', ')})`);
  const t = f.type;
  if (DataType.isTimestamp(t) || DataType.isDate(t)) return 'temporal';
  if (DataType.isInt(t) || DataType.isFloat(t) || DataType.isDecimal(t)) return 'quantitative';
  return 'nominal';
}

export interface PlotOptions {
  /** Column on x, and on y. */
  x: string;
  y: string;
  /** bar (default), point, line, area, tick, rect. */
  mark?: 'bar' | 'point' | 'line' | 'area' | 'tick' | 'rect' | 'circle';
  /** A column for colour. */
  color?: string;
  title?: string;
  width?: number;
  height?: number;
  /** At most this many rows are drawn (default 5000). */
  limit?: number;
}

export type PlotSpec = ChartSpec<Record<string, unknown>, { chart: 'table'; rows: number; shown: number }>;

/**
 * A chart of a query result: plot(table, { x: 'total_ms', y: 'name' }) draws a bar per name,
 * sorted by total_ms. Field types follow the Arrow schema.
 */
export function plotSpec(table: Table, o: PlotOptions): PlotSpec {
  const limit = o.limit ?? 5000;
  const values = tableRows(table, limit);
  const xt = fieldType(table, o.x);
  const yt = fieldType(table, o.y);
  const mark = o.mark ?? 'bar';
  const x: Record<string, unknown> = { field: o.x, type: xt, title: o.x };
  const y: Record<string, unknown> = { field: o.y, type: yt, title: o.y };
  // Bars of categories read best sorted by their value, and categories as rows of fixed height.
  if (xt === 'nominal' && yt !== 'nominal') x.sort = mark === 'bar' ? '-y' : null;
  if (yt === 'nominal' && xt !== 'nominal') {
    y.sort = mark === 'bar' ? '-x' : null;
    y.axis = { labelLimit: 320 };
  }
  const encoding: Record<string, unknown> = { x, y };
  if (o.color) encoding.color = { field: o.color, type: fieldType(table, o.color), title: o.color };
  encoding.tooltip = table.schema.fields.slice(0, 8).map((f) => ({ field: f.name, type: fieldType(table, f.name) }));
  const title = o.title ?? `${o.y} by ${o.x}`;
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: {
      text: title,
      subtitle: table.numRows > values.length ? `${values.length} of ${table.numRows} rows` : `${table.numRows} rows`,
      anchor: 'start',
    },
    width: o.width ?? 560,
    height: o.height ?? (yt === 'nominal' && xt !== 'nominal' ? { step: 18 } : 260),
    data: { values },
    usermeta: { replaybook: { chart: 'table', rows: table.numRows, shown: values.length } },
    mark: { type: mark, tooltip: true, ...(mark === 'line' ? { point: true } : {}) },
    encoding,
    config: { ...CHART_CONFIG, mark: { color: '#4e79a7' } },
  };
}
