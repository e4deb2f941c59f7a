// The replay panel's clickable timeline: the kernel's half. It bins the incident's events into
// marks (density bars per time slice coloured by what dominates them, failed calls, transactions
// as spans) and hands them to the front-end module labextension/src/timeline.js as a widget
// model's traits; a click on a mark comes back as { event: 'jump', seq }. That module runs, by
// what the front end has: in replaybook's JupyterLab 4 / Notebook 7 extension (labextension/,
// installed by `replaybook kernel install`), as an anywidget AnyModel's _esm, or, with ipywidgets
// alone, hosted in an HTML widget by a small loader whose model stands in for a widget model and
// hands the clicked event to the panel's jump box. Everything is drawn by hand: no script is
// loaded from the network.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Table } from 'apache-arrow';
import type { Transaction } from '../analysis/transactions';
import { SYSCALL_TABLE } from '../events/syscall-table';
import { escapeHtml, scriptSafe } from '../escape';
import { PACKAGE_ROOT } from '../addon';

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
  /** The colour of each class of call (net, fs, proc, mem, time, other). */
  colours: Record<string, string>;
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

/**
 * The front-end module (ES module source, labextension/src/timeline.js): render({ model, el }) and
 * initialize({ model }) as anywidget calls them; replaybook's JupyterLab extension bundles the
 * same file.
 */
export const TIMELINE_ESM = fs.readFileSync(path.join(PACKAGE_ROOT, 'labextension', 'src', 'timeline.js'), 'utf8');

export { EXTENSION_MODULE as TIMELINE_MODULE, EXTENSION_MODULE_VERSION as TIMELINE_MODULE_VERSION } from '../widgets/frontend';

// A 1x1 transparent GIF: its load runs the loader below once per redraw of the host.
const PIXEL = 'data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7';

/**
 * The loader for front ends with neither replaybook's extension nor anywidget: it imports the
 * module (once per page), and
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

/** The HTML widget value hosting the module with these traits (front ends with ipywidgets alone). */
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
