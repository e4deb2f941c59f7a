// Small HTML helpers for the notebook's display bundles: bytes shown as text, and inline-styled
// tables that read the same in Classic Notebook, JupyterLab and exported HTML (no external CSS).
import { escapeHtml } from '../escape';

const hex2 = (b: number): string => `\\x${b.toString(16).padStart(2, '0')}`;

/** Code points shown escaped even when valid: C1 controls, invisible and direction-changing marks. */
function invisible(cp: number): boolean {
  return (
    cp < 0xa0 ||
    (cp >= 0x200b && cp <= 0x200f) ||
    (cp >= 0x2028 && cp <= 0x202e) ||
    (cp >= 0x2060 && cp <= 0x206f) ||
    cp === 0xfeff ||
    (cp >= 0xfff9 && cp <= 0xfffb)
  );
}

/** The code point of a well-formed UTF-8 sequence of 2-4 bytes at i, or null. */
function utf8At(b: Uint8Array, i: number): { cp: number; len: number } | null {
  const b0 = b[i];
  let len: number;
  let cp: number;
  let min: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) [len, cp, min] = [2, b0 & 0x1f, 0x80];
  else if (b0 >= 0xe0 && b0 <= 0xef) [len, cp, min] = [3, b0 & 0x0f, 0x800];
  else if (b0 >= 0xf0 && b0 <= 0xf4) [len, cp, min] = [4, b0 & 0x07, 0x10000];
  else return null;
  if (i + len > b.length) return null;
  for (let k = 1; k < len; k++) {
    const c = b[i + k];
    if ((c & 0xc0) !== 0x80) return null;
    cp = (cp << 6) | (c & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
  return { cp, len };
}

export interface EscapedBytes {
  /** Text with printable ASCII and well-formed UTF-8 as is, everything else as `\xNN`. */
  text: string;
  /** How many of the input bytes the text covers. */
  bytes: number;
  truncated: boolean;
}

/**
 * Bytes as readable text, losslessly: printable characters as they are, a backslash as `\\`,
 * tabs/newlines as `\t` `\r` `\n` (or kept when `multiline`), any other byte as `\xNN`. Stops
 * before the text would exceed `maxChars`.
 */
export function escapeBytes(data: Uint8Array, maxChars: number, multiline = false): EscapedBytes {
  const parts: string[] = [];
  let chars = 0;
  let i = 0;
  while (i < data.length) {
    const b = data[i];
    let unit: string;
    let len = 1;
    if (b >= 0x20 && b < 0x7f) unit = b === 0x5c ? '\\\\' : String.fromCharCode(b);
    else if (b === 0x0a) unit = multiline ? '\n' : '\\n';
    else if (b === 0x09) unit = multiline ? '\t' : '\\t';
    else if (b === 0x0d) unit = '\\r';
    else if (b < 0x80) unit = hex2(b);
    else {
      const u = utf8At(data, i);
      if (u && !invisible(u.cp)) {
        unit = String.fromCodePoint(u.cp);
        len = u.len;
      } else if (u) {
        unit = `\\u{${u.cp.toString(16)}}`;
        len = u.len;
      } else unit = hex2(b);
    }
    if (chars + unit.length > maxChars) break;
    parts.push(unit);
    chars += unit.length;
    i += len;
  }
  return { text: parts.join(''), bytes: i, truncated: i < data.length };
}

/** A one-line preview of bytes: at most `maxChars` characters plus `…` when cut. */
export function previewBytes(data: Uint8Array, maxChars = 60): string {
  const e = escapeBytes(data, maxChars);
  return e.truncated ? `${e.text}…` : e.text;
}

// Inline styles, short because they repeat on every cell. Classic Notebook and JupyterLab style
// tables themselves (zebra rows, padding, right-aligned cells); these only set what differs:
// text columns aligned left, monospace for names and data, and colours that suit dark themes.
export const FONT = "font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:12px";
export const MONO = "font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:11.5px";
const TABLE = 'border-collapse:collapse;margin:4px 0';
const TH = 'padding:3px 8px;border-bottom:1px solid rgba(128,128,128,.6)';
const TD = 'padding:2px 8px;vertical-align:top';

/** A table cell: HTML already escaped, with how to align and style it. */
export interface Cell {
  html: string;
  num?: boolean;
  mono?: boolean;
  /** Extra inline style. */
  style?: string;
  /** Spans every column (e.g. the `… N more events …` marker). */
  full?: boolean;
}

/** Shorthand for a cell of plain text (escaped here). */
export function text(s: string | number | bigint, extra: Omit<Cell, 'html'> = {}): Cell {
  return { html: escapeHtml(String(s)), ...extra };
}

/** An inline-styled table; `headers[i]` is plain text, `num` headers align right. */
export function table(headers: Array<string | { text: string; num?: boolean }>, rows: Cell[][]): string {
  const head = headers
    .map((h) => {
      const t = typeof h === 'string' ? { text: h } : h;
      return `<th style="${TH};text-align:${t.num ? 'right' : 'left'}">${escapeHtml(t.text)}</th>`;
    })
    .join('');
  const body = rows
    .map((r) => {
      const cells = r
        .map((c) => {
          let style = `${TD};text-align:${c.num ? 'right' : 'left'}`;
          if (c.num) style += ';white-space:nowrap';
          if (c.mono) style += `;${MONO}`;
          if (c.style) style += `;${c.style}`;
          const span = c.full ? ` colspan="${headers.length}"` : '';
          return `<td style="${style}"${span}>${c.html}</td>`;
        })
        .join('');
      return `<tr>${cells}</tr>`;
    })
    .join('');
  return `<table style="${TABLE}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** A titled block around bundle content. */
export function section(title: string | null, inner: string): string {
  const h = title ? `<div style="font-weight:600;font-size:13px;margin:2px 0 4px">${escapeHtml(title)}</div>` : '';
  return `<div class="replaybook" style="${FONT}">${h}${inner}</div>`;
}

/** A line of muted text (escaped here). */
export function note(s: string): string {
  return `<div style="opacity:.75;margin:2px 0">${escapeHtml(s)}</div>`;
}
