// The replay panel's clickable timeline, drawn in the browser from the widget model's traits
// (replaybook's src/panel/timeline.ts computes them): density bars per time slice coloured by what
// dominates them, failed calls as ticks, the transactions as a row of spans, the cursor at the
// next event and the progress. A click on a mark sends { event: 'jump', seq } to the kernel
// (sendJump: the one way a mark asks the panel to jump, also used by charts shown in a panel).
// One module, three hosts: replaybook's JupyterLab 4 / Notebook 7 extension (./index.js) bundles
// it; anywidget loads it as an AnyModel's _esm; elsewhere the panel's HTML fallback imports it.
// Everything is drawn by hand: nothing is loaded from the network.
const W = 640, BAR = 46, TX = 14, H = BAR + TX + 34;
const NS = 'http://www.w3.org/2000/svg';
function node(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function draw(model, el) {
  const COLOURS = model.get('colours') || {};
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
    const r = node('rect', { x: (x0 * W).toFixed(1), y: BAR - h, width: Math.max(1, (x1 - x0) * W).toFixed(1), height: h, fill: COLOURS[cls] || COLOURS.other || '#bab0ac', 'data-seq': seq, class: 'rb-mark' }, svg);
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
  // A change of several traits at once draws once.
  let queued = false;
  const redraw = () => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      draw(model, el);
    });
  };
  draw(model, el);
  for (const k of ['marks', 'txs', 'cursor', 'cursor_x', 'progress', 'status', 'total']) model.on('change:' + k, redraw);
  const click = (e) => {
    const t = e.target && e.target.closest ? e.target.closest('[data-seq]') : null;
    if (!t) return;
    sendJump(model, Number(t.getAttribute('data-seq')));
  };
  el.addEventListener('click', click);
  return () => {
    el.removeEventListener('click', click);
    for (const k of ['marks', 'txs', 'cursor', 'cursor_x', 'progress', 'status', 'total']) model.off('change:' + k, redraw);
  };
}
/**
 * Asks the kernel's panel to jump before event `seq` (null: the mark stands for no event; the
 * panel says so). The kernel checks that the event is one its replay can reach.
 */
export function sendJump(model, seq) {
  model.send({ event: 'jump', seq: typeof seq === 'number' && isFinite(seq) ? seq : null });
}
/** Called once per model where the front end creates it: the kernel learns which front end draws. */
export function initialize({ model }, frontend = 'anywidget') {
  model.send({ event: 'hello', frontend });
}
export default { render, initialize, sendJump };
