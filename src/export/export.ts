// Sharing a notebook: one self-contained HTML file with every cell (code, outputs, Markdown) that
// shows its charts offline. Nothing in the file refers to the network or to local files: images
// are data URIs, the vega, vega-lite and vega-embed builds are inlined once, and a
// Content-Security-Policy tells the browser to load nothing else. Charts are drawn interactively
// by vega-embed from their vega-lite specs; their PNGs show until then, and stay where scripts
// do not run or a chart cannot be drawn.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ReplaybookError } from '../errors';
import { escapeHtml, jsonForScript } from '../escape';
import { formatBytes } from '../format';
import { highlight, renderMarkdown } from './markdown';
import { CHART_BOOT, vegaScriptTags } from '../viz/scripts';

export interface ExportOptions {
  /** Where to write the HTML (default: the notebook's path with .html instead of .ipynb). */
  out?: string;
  /** The page title (default: the notebook's first heading, else its file name). */
  title?: string;
  /** When the export happened, shown in the page's header (default: now). */
  date?: Date;
}

export interface ExportResult {
  /** The HTML file written. */
  path: string;
  bytes: number;
  cells: number;
  /** Charts found (vega-lite or vega outputs). */
  charts: number;
  /** Charts the page draws interactively (the rest show their PNG). */
  interactive: number;
  /** What could not be kept as it was (a remote image, a blocked reference...). */
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// The notebook format (nbformat 4), as far as the export reads it

type MultiLine = string | string[];

interface NbOutput {
  output_type: string;
  name?: string;
  text?: MultiLine;
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  execution_count?: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

interface NbCell {
  cell_type: string;
  source: MultiLine;
  outputs?: NbOutput[];
  execution_count?: number | null;
  attachments?: Record<string, Record<string, unknown>>;
}

interface Notebook {
  nbformat: number;
  metadata: {
    kernelspec?: { display_name?: string; language?: string; name?: string };
    language_info?: { name?: string };
    title?: string;
  };
  cells: NbCell[];
}

const joined = (t: unknown): string => (Array.isArray(t) ? t.join('') : typeof t === 'string' ? t : '');

/** Reads and checks a notebook file; the errors say what is wrong with it. */
export function readNotebook(file: string): Notebook {
  let raw: string;
  try {
    if (fs.statSync(file).isDirectory()) throw new ReplaybookError('not_a_notebook', `'${file}' is a directory, not a notebook (.ipynb file)`);
    raw = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof ReplaybookError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ReplaybookError('no_notebook', `no notebook at '${file}'`);
    throw new ReplaybookError('no_notebook', `cannot read '${file}': ${(e as Error).message}`);
  }
  let nb: unknown;
  try {
    nb = JSON.parse(raw.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new ReplaybookError('not_a_notebook', `'${file}' is not a Jupyter notebook: it is not valid JSON (${(e as Error).message})`);
  }
  if (typeof nb !== 'object' || nb === null || Array.isArray(nb)) {
    throw new ReplaybookError('not_a_notebook', `'${file}' is not a Jupyter notebook: it holds JSON, but not a notebook object`);
  }
  const o = nb as Record<string, unknown>;
  if (typeof o.nbformat === 'number' && o.nbformat < 4) {
    throw new ReplaybookError('not_a_notebook', `'${file}' is in notebook format ${o.nbformat}: open and save it in Jupyter to upgrade it to format 4`);
  }
  if (!Array.isArray(o.cells)) {
    throw new ReplaybookError('not_a_notebook', `'${file}' is not a Jupyter notebook: it has no "cells" list (nbformat 4)`);
  }
  o.cells.forEach((c: unknown, k: number) => {
    const cell = c as Partial<NbCell> | null;
    if (typeof cell !== 'object' || cell === null || typeof cell.cell_type !== 'string') {
      throw new ReplaybookError('not_a_notebook', `'${file}' is not a valid notebook: cell ${k + 1} has no cell_type`);
    }
    if (cell.outputs !== undefined && !Array.isArray(cell.outputs)) {
      throw new ReplaybookError('not_a_notebook', `'${file}' is not a valid notebook: the outputs of cell ${k + 1} are not a list`);
    }
  });
  const metadata = typeof o.metadata === 'object' && o.metadata !== null ? (o.metadata as Notebook['metadata']) : {};
  return { nbformat: typeof o.nbformat === 'number' ? o.nbformat : 4, metadata, cells: o.cells as NbCell[] };
}

// ---------------------------------------------------------------------------------------------
// Offline: local files become data URIs, anything else that would be loaded is neutralised

const IMAGE_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
  '.webp': 'image/webp',
};
const MAX_INLINED_FILE = 20 * 1024 * 1024;

class Offline {
  readonly warnings: string[] = [];
  constructor(private readonly baseDir: string) {}

  warn(msg: string): void {
    if (!this.warnings.includes(msg)) this.warnings.push(msg);
  }

  /** A local image (relative to the notebook, absolute, or file://) as a data URI, or null. */
  localImage(src: string): string | null {
    let p: string;
    try {
      if (/^file:/i.test(src)) p = new URL(src).pathname;
      else if (/^[a-z][a-z0-9+.-]*:/i.test(src) || src.startsWith('//')) return null;
      else p = path.resolve(this.baseDir, decodeURIComponent(src.replace(/[?#].*$/, '')));
    } catch {
      return null;
    }
    const type = IMAGE_TYPES[path.extname(p).toLowerCase()];
    if (!type) return null;
    try {
      const st = fs.statSync(p);
      if (!st.isFile() || st.size > MAX_INLINED_FILE) return null;
      return `data:${type};base64,${fs.readFileSync(p).toString('base64')}`;
    } catch {
      return null;
    }
  }

  /** An image in Markdown: a cell attachment, a local file, or a data URI; null for the rest. */
  markdownImage(src: string, attachments: NbCell['attachments']): string | null {
    if (/^data:image\//i.test(src)) return src;
    const att = /^attachment:(.+)$/.exec(src);
    if (att) {
      const bundle = attachments?.[att[1]];
      const type = bundle && Object.keys(bundle).find((t) => t.startsWith('image/'));
      if (bundle && type) {
        const data = joined(bundle[type]);
        return type === 'image/svg+xml' ? `data:${type};base64,${Buffer.from(data, 'utf8').toString('base64')}` : `data:${type};base64,${data.replace(/\s+/g, '')}`;
      }
      this.warn(`the attachment '${att[1]}' is not in its cell: shown as its name`);
      return null;
    }
    const local = this.localImage(src);
    if (local) return local;
    this.warn(`the image '${src}' is not a local file: shown as its alt text (the page loads nothing from the network)`);
    return null;
  }

  /**
   * HTML from an output or a Markdown cell, with every reference the browser would load made
   * local: local images are inlined, other src/srcset/poster/data attributes, <link>/<base>/SVG
   * hrefs and CSS url()s are disabled (renamed to data-blocked-*), and a warning says which.
   * Links people click (<a href>) stay.
   */
  html(html: string): string {
    let out = html.replace(/<style\b([^>]*)>([\s\S]*?)<\/style\s*>/gi, (_m, attrs: string, css: string) => `<style${this.attrs('style', attrs)}>${this.css(css)}</style>`);
    out = out.replace(/<(?!style\b)([a-zA-Z][a-zA-Z0-9:-]*)(\s(?:[^>"']|"[^"]*"|'[^']*')*)?>/g, (m, tag: string, attrs: string | undefined) =>
      attrs ? `<${tag}${this.attrs(tag, attrs)}>` : m,
    );
    return out;
  }

  private css(css: string): string {
    return css
      .replace(/@import\s+(?:url\()?\s*(['"]?)([^'")\s;]+)\1\s*\)?[^;]*;?/gi, (_m, _q: string, url: string) => {
        this.warn(`a stylesheet import of '${url}' was removed (the page loads nothing from the network)`);
        return '';
      })
      .replace(/url\(\s*(['"]?)([^'")]*)\1\s*\)/gi, (m, _q: string, url: string) => {
        if (/^(?:data:|#)/i.test(url.trim()) || url.trim() === '') return m;
        this.warn(`a CSS reference to '${url}' was removed (the page loads nothing from the network)`);
        return 'none';
      });
  }

  private attrs(tag: string, attrs: string): string {
    const t = tag.toLowerCase();
    return attrs.replace(/(\s)([a-zA-Z_:][-a-zA-Z0-9_:.]*)(\s*=\s*)("[^"]*"|'[^']*'|[^\s"'=<>`]+)/g, (m, sp: string, name: string, eq: string, quoted: string) => {
      const n = name.toLowerCase();
      const q = quoted[0] === '"' || quoted[0] === "'" ? quoted[0] : '';
      const value = decodeEntities(q ? quoted.slice(1, -1) : quoted);
      if (n === 'style') {
        const css = this.css(value);
        return css === value ? m : `${sp}${name}${eq}"${escapeHtml(css)}"`;
      }
      const loads =
        n === 'src' ||
        n === 'srcset' ||
        n === 'poster' ||
        n === 'background' ||
        n === 'ping' ||
        n === 'lowsrc' ||
        n === 'dynsrc' ||
        (n === 'data' && t === 'object') ||
        (n === 'codebase' && t === 'object') ||
        ((n === 'href' || n === 'xlink:href') && t !== 'a' && t !== 'area');
      if (!loads) return m;
      const v = value.trim();
      if (v === '' || /^data:/i.test(v) || (v.startsWith('#') && n !== 'src')) return m;
      if (n === 'src' && (t === 'img' || t === 'image' || t === 'input')) {
        const local = this.localImage(v);
        if (local) return `${sp}${name}="${local}"`;
      }
      this.warn(`<${t} ${n}="${v.length > 80 ? v.slice(0, 77) + '...' : v}"> was disabled (the page loads nothing from the network or local files)`);
      return `${sp}data-blocked-${n.replace(/:/g, '-')}${eq}${quoted}`;
    });
  }
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|#39);/gi, (m, e: string) => {
    const k = e.toLowerCase();
    if (k === 'amp') return '&';
    if (k === 'lt') return '<';
    if (k === 'gt') return '>';
    if (k === 'quot') return '"';
    if (k === 'apos' || k === '#39') return "'";
    const cp = k.startsWith('#x') ? parseInt(k.slice(2), 16) : parseInt(k.slice(1), 10);
    return Number.isFinite(cp) && cp >= 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
}

// ---------------------------------------------------------------------------------------------
// Terminal text: ANSI colours (tracebacks, coloured logs) and carriage-return progress lines

const ANSI_COLORS = ['#3e3e3e', '#c4332e', '#2c8a2c', '#9a7400', '#2f63b8', '#a23ca3', '#1f8a91', '#c8c8c8'];
const ANSI_BRIGHT = ['#777777', '#e0514b', '#3fae3f', '#c49a0c', '#4f82d9', '#c05ac0', '#2aacb4', '#ffffff'];

/** Text as a terminal shows it: each line's last carriage-return overwrite, backspaces applied. */
function terminalText(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const parts = line.split('\r');
      let shown = parts[parts.length - 1] === '' && parts.length > 1 ? parts[parts.length - 2] : parts[parts.length - 1];
      while (/[^\x08]\x08/.test(shown)) shown = shown.replace(/[^\x08]\x08/, '');
      return shown.replace(/\x08/g, '');
    })
    .join('\n');
}

/** Terminal text as HTML: SGR colours and bold as spans, other escape sequences dropped. */
export function ansiToHtml(text: string): string {
  const src = terminalText(text).replace(/\x1b\[[0-9;?]*[A-Za-ln-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]/g, '');
  let out = '';
  let fg: string | null = null;
  let bg: string | null = null;
  let bold = false;
  let last = 0;
  const re = /\x1b\[([0-9;]*)m/g;
  const flush = (to: number): void => {
    const chunk = src.slice(last, to);
    if (!chunk) return;
    const style = [fg ? `color:${fg}` : '', bg ? `background:${bg}` : '', bold ? 'font-weight:bold' : ''].filter(Boolean).join(';');
    out += style ? `<span style="${style}">${escapeHtml(chunk)}</span>` : escapeHtml(chunk);
  };
  for (let m = re.exec(src); m; m = re.exec(src)) {
    flush(m.index);
    last = m.index + m[0].length;
    const codes = m[1] === '' ? [0] : m[1].split(';').map(Number);
    for (let k = 0; k < codes.length; k++) {
      const c = codes[k];
      if (c === 0) [fg, bg, bold] = [null, null, false];
      else if (c === 1) bold = true;
      else if (c === 22) bold = false;
      else if (c >= 30 && c <= 37) fg = ANSI_COLORS[c - 30];
      else if (c >= 90 && c <= 97) fg = ANSI_BRIGHT[c - 90];
      else if (c === 39) fg = null;
      else if (c >= 40 && c <= 47) bg = ANSI_COLORS[c - 40];
      else if (c >= 100 && c <= 107) bg = ANSI_BRIGHT[c - 100];
      else if (c === 49) bg = null;
      else if ((c === 38 || c === 48) && codes[k + 1] === 2 && k + 4 < codes.length) {
        const rgb = `rgb(${codes[k + 2]},${codes[k + 3]},${codes[k + 4]})`;
        if (c === 38) fg = rgb;
        else bg = rgb;
        k += 4;
      } else if ((c === 38 || c === 48) && codes[k + 1] === 5) k += 2;
    }
  }
  flush(src.length);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Charts

const CHART_TYPES: Array<{ mime: RegExp; mode: 'vega-lite' | 'vega' }> = [
  { mime: /^application\/vnd\.vegalite\.v[3-6](?:\.\d+)*\+json$/, mode: 'vega-lite' },
  { mime: /^application\/vnd\.vega\.v[3-6](?:\.\d+)*\+json$/, mode: 'vega' },
];

function chartOf(data: Record<string, unknown>): { spec: Record<string, unknown>; mode: 'vega-lite' | 'vega' } | null {
  for (const { mime, mode } of CHART_TYPES) {
    const key = Object.keys(data).find((k) => mime.test(k));
    if (!key) continue;
    let spec = data[key];
    if (typeof spec === 'string' || Array.isArray(spec)) {
      try {
        spec = JSON.parse(joined(spec));
      } catch {
        continue;
      }
    }
    if (spec && typeof spec === 'object' && !Array.isArray(spec)) return { spec: spec as Record<string, unknown>, mode };
  }
  return null;
}

/** Whether a spec loads data or images from somewhere (a `url` anywhere under `data`), which the page may not do. */
function loadsUrls(spec: unknown): boolean {
  const walk = (x: unknown, underData: boolean, depth: number): boolean => {
    if (depth > 40 || x === null || typeof x !== 'object') return false;
    if (Array.isArray(x)) return x.some((v) => walk(v, underData, depth + 1));
    for (const [k, v] of Object.entries(x)) {
      if (k === 'values') continue; // inline rows: may be large and cannot load anything
      if (underData && k === 'url' && typeof v === 'string') return true;
      if (walk(v, underData || k === 'data', depth + 1)) return true;
    }
    return false;
  };
  return walk(spec, false, 0);
}

function specTitle(spec: Record<string, unknown>): string | null {
  const t = spec.title;
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && typeof (t as { text?: unknown }).text === 'string') return (t as { text: string }).text;
  return null;
}

// ---------------------------------------------------------------------------------------------
// The page

/** Output MIME types in the order the page prefers them (charts are handled before these). */
const PREFERRED = ['text/html', 'image/svg+xml', 'image/png', 'image/jpeg', 'image/gif', 'text/markdown', 'text/latex', 'application/json', 'text/plain'];

class Page {
  charts = 0;
  interactive = 0;
  readonly ids = new Set<string>();
  readonly offline: Offline;
  readonly language: string;
  private readonly token = randomBytes(4).toString('hex');

  constructor(
    readonly nb: Notebook,
    baseDir: string,
    readonly scriptsAvailable: boolean,
  ) {
    this.offline = new Offline(baseDir);
    this.language = (nb.metadata.language_info?.name ?? nb.metadata.kernelspec?.language ?? '').toLowerCase();
  }

  cell(c: NbCell, index: number): string {
    const source = joined(c.source);
    if (c.cell_type === 'markdown') {
      const html = renderMarkdown(source, { ids: this.ids, image: (src) => this.offline.markdownImage(src, c.attachments) });
      return `<section class="rb-cell rb-markdown" data-cell="${index}"><div class="rb-prompt"></div><div class="rb-body">${this.offline.html(html)}</div></section>`;
    }
    if (c.cell_type === 'code') {
      const count = c.execution_count ?? null;
      const input =
        `<div class="rb-in"><div class="rb-prompt">In&nbsp;[${count === null ? '&nbsp;' : count}]:</div>` +
        `<pre class="rb-code"><code class="language-${escapeHtml(this.language || 'text')}">${highlight(source, this.language)}</code></pre></div>`;
      const outputs = (c.outputs ?? []).map((o) => this.output(o)).join('');
      return `<section class="rb-cell rb-codecell" data-cell="${index}">${input}${outputs ? `<div class="rb-outputs">${outputs}</div>` : ''}</section>`;
    }
    // Raw cells (and anything newer) as they are.
    return `<section class="rb-cell rb-raw" data-cell="${index}"><div class="rb-prompt"></div><pre class="rb-body rb-rawtext">${escapeHtml(source)}</pre></section>`;
  }

  private wrap(kind: string, inner: string, prompt = ''): string {
    return `<div class="rb-out rb-out-${kind}"><div class="rb-prompt">${prompt}</div><div class="rb-body">${inner}</div></div>`;
  }

  output(o: NbOutput): string {
    switch (o.output_type) {
      case 'stream': {
        const name = o.name === 'stderr' ? 'stderr' : 'stdout';
        return this.wrap(name, `<pre>${ansiToHtml(joined(o.text))}</pre>`);
      }
      case 'error': {
        const tb = (o.traceback ?? []).join('\n') || `${o.ename ?? 'Error'}: ${o.evalue ?? ''}`;
        return this.wrap('error', `<pre>${ansiToHtml(tb)}</pre>`);
      }
      case 'display_data':
      case 'execute_result': {
        const prompt = o.output_type === 'execute_result' && typeof o.execution_count === 'number' ? `Out[${o.execution_count}]:` : '';
        return this.wrap('display', this.richOutput(o.data ?? {}, o.metadata ?? {}), prompt);
      }
      default:
        return '';
    }
  }

  private richOutput(data: Record<string, unknown>, metadata: Record<string, unknown>): string {
    const chart = chartOf(data);
    if (chart) return this.chart(chart.spec, chart.mode, typeof data['image/png'] === 'string' || Array.isArray(data['image/png']) ? joined(data['image/png']) : null);
    const type = PREFERRED.find((t) => data[t] !== undefined);
    if (!type) return '';
    const value = data[type];
    const size = (metadata[type] ?? {}) as { width?: unknown; height?: unknown };
    const dims = `${typeof size.width === 'number' ? ` width="${size.width}"` : ''}${typeof size.height === 'number' ? ` height="${size.height}"` : ''}`;
    switch (type) {
      case 'text/html':
        return `<div class="rb-html">${this.offline.html(joined(value))}</div>`;
      case 'image/svg+xml':
        return `<img class="rb-image" src="data:image/svg+xml;base64,${Buffer.from(joined(value), 'utf8').toString('base64')}"${dims} alt="SVG output">`;
      case 'image/png':
      case 'image/jpeg':
      case 'image/gif':
        return `<img class="rb-image" src="data:${type};base64,${joined(value).replace(/\s+/g, '')}"${dims} alt="image output">`;
      case 'text/markdown':
        return `<div class="rb-markdown-output">${this.offline.html(renderMarkdown(joined(value), { ids: this.ids, image: (src) => this.offline.markdownImage(src, undefined) }))}</div>`;
      case 'application/json':
        return `<pre>${escapeHtml(JSON.stringify(value, null, 2))}</pre>`;
      default:
        return `<pre>${ansiToHtml(joined(value))}</pre>`;
    }
  }

  /** A chart: its PNG (when it has one) until vega-embed has drawn it from the spec. */
  private chart(spec: Record<string, unknown>, mode: 'vega-lite' | 'vega', png: string | null): string {
    const n = ++this.charts;
    const id = `rb-chart-${this.token}-${n}`;
    const title = specTitle(spec) ?? `chart ${n}`;
    let pngSize = '';
    if (png) {
      const head = Buffer.from(png.slice(0, 44).replace(/\s+/g, ''), 'base64');
      if (head.length >= 24 && head.toString('latin1', 12, 16) === 'IHDR') pngSize = ` width="${head.readUInt32BE(16)}" height="${head.readUInt32BE(20)}"`;
    }
    const img = png ? `<img class="rb-chart-png" src="data:image/png;base64,${png.replace(/\s+/g, '')}"${pngSize} alt="${escapeHtml(title)}">` : '';
    let interactive = this.scriptsAvailable;
    if (interactive && loadsUrls(spec)) {
      interactive = false;
      this.offline.warn(`chart '${title}' loads its data from a URL: ${png ? 'its PNG is shown instead' : 'it cannot be drawn offline'}`);
    }
    if (!interactive) {
      return `<figure class="rb-chart" id="${id}" data-mode="${mode}" data-static="true">${img || `<div class="rb-chart-missing">${escapeHtml(title)}: no PNG in this output and no interactive view offline</div>`}</figure>`;
    }
    this.interactive++;
    return (
      `<figure class="rb-chart" id="${id}" data-mode="${mode}" data-interactive="pending">` +
      img +
      `<div class="rb-chart-view"></div>` +
      `<script type="application/json" class="rb-chart-spec">${jsonForScript(spec)}</script>` +
      `</figure>`
    );
  }
}

const CSS = `
:root{--fg:#1d1d1f;--muted:#6b6b70;--line:#e3e3e6;--code-bg:#f6f7f9;--prompt:#8a8a90;--err-bg:#fdf0ef;--err:#b3261e}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--fg);font:14px/1.5 -apple-system,"Segoe UI",Helvetica,Arial,"DejaVu Sans",sans-serif}
header.rb-header{border-bottom:1px solid var(--line);background:#fafafb}
header.rb-header div{max-width:1180px;margin:0 auto;padding:10px 24px;color:var(--muted);font-size:12.5px}
header.rb-header b{color:var(--fg);font-weight:600}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
.rb-cell{margin:10px 0}
.rb-in,.rb-out,.rb-markdown,.rb-raw{display:flex;align-items:flex-start}
.rb-prompt{flex:0 0 84px;padding:6px 8px 0 0;text-align:right;color:var(--prompt);font:12px/1.5 "DejaVu Sans Mono",Menlo,Consolas,monospace;white-space:nowrap}
.rb-body,.rb-code{flex:1 1 auto;min-width:0}
pre,code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
pre.rb-code{margin:0;padding:6px 10px;background:var(--code-bg);border:1px solid var(--line);border-radius:4px;overflow-x:auto;white-space:pre}
.rb-outputs{margin-top:4px}
.rb-out .rb-body{overflow-x:auto;padding:2px 0}
.rb-out pre{margin:2px 0;padding:2px 2px;white-space:pre-wrap;word-break:break-word}
.rb-out-stderr .rb-body{background:#fff5f2}
.rb-out-error .rb-body{background:var(--err-bg);border-left:3px solid var(--err);padding-left:8px}
.rb-markdown .rb-body{padding:0 4px;overflow-wrap:break-word}
.rb-markdown h1{font-size:1.9em;margin:.6em 0 .4em}.rb-markdown h2{font-size:1.45em;margin:.9em 0 .35em}
.rb-markdown h3{font-size:1.2em}.rb-markdown h1,.rb-markdown h2,.rb-markdown h3{line-height:1.25}
.rb-markdown p{margin:.45em 0}.rb-markdown code{background:var(--code-bg);padding:.05em .3em;border-radius:3px}
.rb-markdown pre{background:var(--code-bg);border:1px solid var(--line);border-radius:4px;padding:6px 10px;overflow-x:auto}
.rb-markdown pre code{background:none;padding:0}
.rb-markdown blockquote{margin:.5em 0;padding:0 1em;color:var(--muted);border-left:3px solid var(--line)}
.rb-markdown img,.rb-image{max-width:100%;height:auto}
.rb-markdown table,.rb-markdown-output table{border-collapse:collapse;margin:.5em 0}
.rb-markdown th,.rb-markdown td,.rb-markdown-output th,.rb-markdown-output td{border:1px solid var(--line);padding:3px 10px}
.rb-html table{border-collapse:collapse;font-size:12px}
.rb-html tbody tr:nth-child(odd){background:#f7f7f9}
.rb-missing-image{color:var(--muted);font-style:italic}
.hljs-comment,.hljs-quote{color:#6a737d;font-style:italic}.hljs-string,.hljs-regexp{color:#0b7a3e}
.hljs-number,.hljs-literal{color:#a3470e}.hljs-keyword,.hljs-built_in,.hljs-type{color:#7227b0;font-weight:600}.hljs-title{color:#1f5fa8}
figure.rb-chart{margin:4px 0;overflow-x:auto}
figure.rb-chart img{max-width:100%;height:auto}
.rb-chart-missing{color:var(--err);font-style:italic}
.vega-embed{display:inline-block}
@media print{header.rb-header{display:none}main{max-width:none}}
`;

function firstHeading(nb: Notebook): string | null {
  for (const c of nb.cells) {
    if (c.cell_type !== 'markdown') continue;
    const m = /^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$/m.exec(joined(c.source));
    if (m) return m[1].replace(/[*_`]/g, '').trim();
  }
  return null;
}

/** The notebook as one HTML page (a string): used by exportNotebook, which writes it. */
export function notebookHtml(
  nb: Notebook,
  opts: { name: string; baseDir: string; title?: string; date?: Date },
): { html: string; cells: number; charts: number; interactive: number; warnings: string[] } {
  const scripts = vegaScriptTags();
  const page = new Page(nb, opts.baseDir, scripts !== null);
  const cells = nb.cells.map((c, k) => page.cell(c, k)).join('\n');
  if (page.charts > 0 && scripts === null) page.offline.warn('the vega scripts were not found (is replaybook installed with its dependencies?): charts show as PNG only');
  const title = opts.title ?? nb.metadata.title ?? firstHeading(nb) ?? opts.name;
  const kernel = nb.metadata.kernelspec?.display_name;
  const date = (opts.date ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z');
  // The browser loads nothing but what is in this file: inline scripts and styles, data: images.
  // vega compiles its expressions with Function, hence 'unsafe-eval'.
  const csp = "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; font-src data:; media-src data:; base-uri 'none'; form-action 'none'";
  const html =
    `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<meta name="generator" content="replaybook export">\n` +
    `<title>${escapeHtml(title)}</title>\n<style>${CSS}</style>\n` +
    (page.interactive > 0 && scripts ? `${scripts}\n` : '') +
    `</head>\n<body>\n` +
    `<header class="rb-header"><div><b>${escapeHtml(opts.name)}</b>${kernel ? ` · ${escapeHtml(kernel)}` : ''} · exported ${escapeHtml(date)} by replaybook · ` +
    `${nb.cells.length} cells${page.charts ? `, ${page.charts} chart${page.charts === 1 ? '' : 's'}` : ''}</div></header>\n` +
    `<main>\n${cells}\n</main>\n` +
    (page.interactive > 0 ? `<script>${CHART_BOOT}</script>\n` : '') +
    `</body>\n</html>\n`;
  return { html, cells: nb.cells.length, charts: page.charts, interactive: page.interactive, warnings: page.offline.warnings };
}

/** The default output path: the notebook's path with .html for .ipynb. */
export function defaultExportPath(ipynbPath: string): string {
  return /\.ipynb$/i.test(ipynbPath) ? ipynbPath.replace(/\.ipynb$/i, '.html') : `${ipynbPath}.html`;
}

/** Writes data to file through a temporary file in the same directory and a rename. */
function writeAtomically(file: string, data: string): number {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const bytes = Buffer.from(data, 'utf8');
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new ReplaybookError('export_write', `cannot write '${file}': ${(e as Error).message}`);
  }
  return bytes.length;
}

/**
 * Writes a notebook as one self-contained HTML file: every cell with its outputs, every chart
 * drawn offline (interactive through vega-embed, its PNG where scripts do not run).
 */
export async function exportNotebook(ipynbPath: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const nb = readNotebook(ipynbPath);
  const out = path.resolve(opts.out ?? defaultExportPath(ipynbPath));
  if (out === path.resolve(ipynbPath)) throw new ReplaybookError('usage', `the output '${opts.out ?? out}' is the notebook itself: choose another --out`);
  const dir = path.dirname(out);
  if (!fs.existsSync(dir)) throw new ReplaybookError('export_write', `cannot write '${opts.out ?? out}': the directory '${dir}' does not exist`);
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new ReplaybookError('export_write', `cannot write '${opts.out ?? out}': it is a directory`);
  const page = notebookHtml(nb, { name: path.basename(ipynbPath), baseDir: path.dirname(path.resolve(ipynbPath)), title: opts.title, date: opts.date });
  const bytes = writeAtomically(out, page.html);
  return { path: out, bytes, cells: page.cells, charts: page.charts, interactive: page.interactive, warnings: page.warnings };
}

/** One line saying what an export wrote. */
export function describeExport(r: ExportResult, shownPath = r.path): string {
  const charts =
    r.charts === 0 ? 'no charts' : `${r.charts} chart${r.charts === 1 ? '' : 's'} (${r.interactive === r.charts ? 'interactive' : `${r.interactive} interactive, ${r.charts - r.interactive} as PNG`})`;
  return `wrote ${shownPath}: ${r.cells} cells, ${charts}, ${formatBytes(r.bytes)}; it opens offline in any browser`;
}
