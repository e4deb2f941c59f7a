// The replay panel's clickable timeline. Its front end is an anywidget-style ES module
// (render({ model, el })) that draws the incident's events as SVG from the model's traits —
// density bars per time slice coloured by what dominates them, failed calls as ticks, the
// transactions as a row of spans, the cursor at the next event and the progress — and, when a
// mark is clicked, sends { event: 'jump', seq } to the kernel. Where Jupyter has the anywidget
// extension the module runs as an AnyModel's _esm; elsewhere (ipywidgets alone) the panel hosts
// it in an HTML widget with a small loader whose model stands in for anywidget's and hands the
// clicked event to the panel's jump box. Everything is drawn by hand: no script is loaded from
// the network.
import type { Table } from 'apache-arrow';
import type { Transaction } from '../analysis/transactions';
import { SYSCALL_TABLE } from '../events/syscall-table';
import { escapeHtml, scriptSafe } from '../escape';

/** [x0, x1 (0..1 of the recording's time), first seq in the slice, events, class, failed]. */
export type Mark = [number, number, number, number, string, number];
/** [x0, x1, first seq, label, ok]. */
export type TxMark = [number, number, number, string, number];

export interface TimelineTraits {
  marks: Mark[];
  txs: TxMark[];
  /** seq of the next event (the cursor) and its place on the time axis. */
  cursor: number;
  cursor_x: number;
  total: number;
  /** Events served / total. */
  progress: number;
  status: string;
  title: string;
}

export const CLASS_COLOURS: Record<string, string> = { net: '#4c78a8', fs: '#72b7b2', proc: '#b279a2', mem: '#9d755d', time: '#eeca3b', other: '#bab0ac' };

const classOfNr = new Map<number, string>();
for (const s of SYSCALL_TABLE) {
  const t = s.traits as readonly string[];
  classOfNr.set(s.nr, t.includes('net') ? 'net' : t.includes('fs') ? 'fs' : t.includes('proc') || t.includes('task') ? 'proc' : t.includes('mem') || t.includes('vm') ? 'mem' : t.includes('clock') || t.includes('timer') ? 'time' : 'other');
}

/** The incident's events binned into `width` time slices, and its transactions as spans. */
export function timelineMarks(events: Table, txs: Transaction[], width = 600): { marks: Mark[]; txs: TxMark[]; x: (seq: number) => number; total: number } {
  const n = events.numRows;
  const seqC = events.getChild('seq');
  const enterC = events.getChild('enter_ns');
  const nrC = events.getChild('nr');
  const retC = events.getChild('ret');
  const kindC = events.getChild('kind');
  const t0 = n ? Number(enterC?.get(0) ?? 0n) : 0;
  let t1 = t0;
  for (let i = 0; i < n; i++) t1 = Math.max(t1, Number(enterC?.get(i) ?? 0n));
  const span = Math.max(1, t1 - t0);
  const slices: Array<{ seq: number; n: number; counts: Map<string, number>; failed: number }> = [];
  const seqs = new Float64Array(n);
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const seq = Number(seqC?.get(i) ?? i);
    const x = (Number(enterC?.get(i) ?? 0n) - t0) / span;
    seqs[i] = seq;
    xs[i] = x;
    const b = Math.min(width - 1, Math.floor(x * width));
    const s = (slices[b] ??= { seq, n: 0, counts: new Map(), failed: 0 });
    const cls = kindC?.get(i) === 'syscall' || kindC === null ? (classOfNr.get(Number(nrC?.get(i) ?? -1)) ?? 'other') : 'other';
    s.counts.set(cls, (s.counts.get(cls) ?? 0) + 1);
    s.n++;
    const ret = retC?.get(i) as bigint | undefined;
    if (ret !== undefined && ret < 0n && ret > -4096n) s.failed++;
  }
  const marks: Mark[] = [];
  slices.forEach((s, b) => {
    if (!s) return;
    let best = 'other';
    let most = -1;
    for (const [c, k] of s.counts) if (k > most) [best, most] = [c, k];
    marks.push([b / width, (b + 1) / width, s.seq, s.n, best, s.failed]);
  });
  // seq -> x by binary search over the (seq-ordered) rows.
  const x = (seq: number): number => {
    if (n === 0) return 0;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seqs[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    return seq > seqs[n - 1] ? 1 : xs[lo];
  };
  const txMarks: TxMark[] = txs.map((t) => [x(t.firstSeq), Math.max(x(t.lastSeq), x(t.firstSeq) + 0.002), t.firstSeq, t.id, t.outcome === 'ok' ? 1 : 0]);
  return { marks, txs: txMarks, x, total: n };
}

/** The front-end module (ES module source): render({ model, el }) as anywidget calls it. */
export const TIMELINE_ESM = `
const COLOURS = ${JSON.stringify(CLASS_COLOURS)};
const W = 640, BAR = 46, TX = 14, H = BAR + TX + 34;
const NS = 'http://www.w3.org/2000/svg';
function node(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function draw(model, el) {
  const marks = model.get('marks') || [];
  const txs = model.get('txs') || [];
  const most = marks.reduce((m, k) => Math.max(m, k[3]), 1);
  el.textContent = '';
  const svg = node('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, class: 'rb-timeline-svg', role: 'img' }, el);
  svg.style.cursor = 'pointer';
  svg.style.fontFamily = 'sans-serif';
  node('rect', { x: 0, y: 0, width: W, height: BAR, fill: '#f7f7f7' }, svg);
  for (const [x0, x1, seq, n, cls, failed] of marks) {
    const h = Math.max(2, Math.round((BAR - 4) * Math.sqrt(n / most)));
    const r = node('rect', { x: (x0 * W).toFixed(1), y: BAR - h, width: Math.max(1, (x1 - x0) * W).toFixed(1), height: h, fill: COLOURS[cls] || COLOURS.other, 'data-seq': seq, class: 'rb-mark' }, svg);
    node('title', {}, r).textContent = n + ' events from #' + seq + (failed ? ', ' + failed + ' failed' : '');
    if (failed) node('rect', { x: (x0 * W).toFixed(1), y: 0, width: Math.max(1, (x1 - x0) * W).toFixed(1), height: 3, fill: '#e45756', 'data-seq': seq, class: 'rb-mark' }, svg);
  }
  for (const [x0, x1, seq, label, ok] of txs) {
    const r = node('rect', { x: (x0 * W).toFixed(1), y: BAR + 3, width: Math.max(2, (x1 - x0) * W).toFixed(1), height: TX - 4, rx: 2, fill: ok ? '#54a24b' : '#e45756', 'data-seq': seq, class: 'rb-tx', 'data-tx': label }, svg);
    node('title', {}, r).textContent = label + ' from #' + seq;
  }
  const cx = Math.max(0, Math.min(1, model.get('cursor_x') || 0)) * W;
  node('line', { x1: cx, x2: cx, y1: 0, y2: BAR + TX, stroke: '#111', 'stroke-width': 2, class: 'rb-cursor-line' }, svg);
  node('path', { d: 'M' + (cx - 5) + ',0 L' + (cx + 5) + ',0 L' + cx + ',6 Z', fill: '#111' }, svg);
  const total = model.get('total') || 0, p = Math.max(0, Math.min(1, model.get('progress') || 0));
  node('rect', { x: 0, y: BAR + TX + 6, width: W, height: 6, fill: '#e6e6e6', rx: 3 }, svg);
  node('rect', { x: 0, y: BAR + TX + 6, width: (p * W).toFixed(1), height: 6, fill: '#4c78a8', rx: 3, class: 'rb-progress' }, svg);
  const t = node('text', { x: 0, y: H - 2, 'font-size': 11, fill: '#333' }, svg);
  t.textContent = 'event ' + model.get('cursor') + ' of ' + total + ' · ' + Math.round(p * 100) + '% · ' + (model.get('status') || '');
}
export function render({ model, el }) {
  const redraw = () => draw(model, el);
  redraw();
  for (const k of ['marks', 'txs', 'cursor', 'cursor_x', 'progress', 'status', 'total']) model.on('change:' + k, redraw);
  const click = (e) => {
    const t = e.target && e.target.closest ? e.target.closest('[data-seq]') : null;
    if (!t) return;
    model.send({ event: 'jump', seq: Number(t.getAttribute('data-seq')) });
  };
  el.addEventListener('click', click);
  return () => {
    el.removeEventListener('click', click);
    for (const k of ['marks', 'txs', 'cursor', 'cursor_x', 'progress', 'status', 'total']) model.off('change:' + k, redraw);
  };
}
export default { render };
`;

// A 1x1 transparent GIF: its load runs the loader below once per redraw of the host.
const PIXEL = 'data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7';

/**
 * The loader for front ends without anywidget: it imports the module (once per page), and
 * renders it with a model whose traits are the host's JSON and whose send() writes the clicked
 * event into the panel's jump box (class rb-jump), which the kernel watches.
 */
const LOADER =
  "(function(img){var host=img.parentNode;var st=JSON.parse(host.querySelector('.rb-tl-state').textContent);" +
  "var cache=window.__replaybookTimeline=window.__replaybookTimeline||{};var key=host.getAttribute('data-esm');" +
  "if(!cache[key])cache[key]=import(window.URL.createObjectURL(new Blob([host.querySelector('.rb-tl-esm').textContent],{type:'text/javascript'})));" +
  "cache[key].then(function(m){var model={get:function(k){return st[k]},set:function(k,v){st[k]=v},save_changes:function(){},on:function(){},off:function(){}," +
  "send:function(c){var root=host.closest('.rb-panel');var box=root&&root.querySelector('.rb-jump input');if(!box||c.event!=='jump')return;" +
  "box.value=String(c.seq);box.dispatchEvent(new Event('input',{bubbles:true}));box.dispatchEvent(new Event('change',{bubbles:true}));}};" +
  "(m.render||m.default.render)({model:model,el:host.querySelector('.rb-tl')});});})(this)";

let esmKey: string | null = null;

/** The HTML widget value hosting the module with these traits (front ends without anywidget). */
export function timelineHostHtml(traits: TimelineTraits): string {
  esmKey ??= require('node:crypto').createHash('sha256').update(TIMELINE_ESM).digest('hex').slice(0, 12) as string;
  return (
    `<div class="rb-timeline-host" data-esm="${esmKey}" data-cursor="${traits.cursor}">` +
    `<script type="application/json" class="rb-tl-state">${scriptSafe(JSON.stringify(traits))}</script>` +
    `<script type="text/plain" class="rb-tl-esm">${scriptSafe(TIMELINE_ESM)}</script>` +
    `<div class="rb-tl" style="min-height:96px"></div>` +
    `<img alt="" src="${PIXEL}" style="display:none" onload="${escapeHtml(LOADER)}">` +
    `</div>`
  );
}
