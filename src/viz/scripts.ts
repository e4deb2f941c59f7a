// The browser side of interactive charts, one copy for every page that draws them: the notebook's
// chart bundles (src/notebook/bundle.ts), replaybook's own HTML export (src/export/export.ts) and
// the nbconvert template `replaybook` (nbconvert/replaybook, installed by `replaybook kernel
// install`). vega, vega-lite and vega-embed come from this package's node_modules, inlined:
// nothing is fetched from a CDN, at export time or when the page is viewed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scriptSafe } from '../escape';

/** The browser builds of vega, vega-lite and vega-embed, in load order, with the global each defines. */
const VEGA_BUILDS = [
  { pkg: 'vega', file: 'vega.min.js', global: 'vega' },
  { pkg: 'vega-lite', file: 'vega-lite.min.js', global: 'vegaLite' },
  { pkg: 'vega-embed', file: 'vega-embed.min.js', global: 'vegaEmbed' },
] as const;

let sources: Array<{ global: string; js: string }> | null | undefined;

/**
 * Each build as JavaScript safe inside a <script> element, that defines its global only if it is
 * not there yet and hides an AMD `define` while it runs (Classic Notebook and nbconvert pages
 * load require.js), so the UMD builds set globals. Null when a build is missing.
 */
export function vegaScriptSources(): Array<{ global: string; js: string }> | null {
  if (sources !== undefined) return sources;
  try {
    sources = VEGA_BUILDS.map(({ pkg, file, global }) => {
      // Every package's main module lives in its build/ folder; vega-embed exports nothing else.
      const source = fs.readFileSync(path.join(path.dirname(require.resolve(pkg)), file), 'utf8');
      return {
        global,
        js: `(function(){if(typeof window.${global}!=='undefined')return;var d=window.define;window.define=undefined;try{\n${scriptSafe(source)}\n}finally{window.define=d;}}).call(window);`,
      };
    });
  } catch {
    sources = null;
  }
  return sources;
}

/** The builds as <script> elements, or null when one is missing. */
export function vegaScriptTags(): string | null {
  const s = vegaScriptSources();
  return s && s.map(({ global, js }) => `<script data-replaybook="${global}">${js}</script>`).join('\n');
}

/** Draws every interactive chart; on success its PNG is hidden, on failure the PNG stays. */
/**
 * The page's chart boot (after the charts, once): each <figure class="rb-chart" data-mode
 * data-interactive="pending"> holding an optional img.rb-chart-png, a div.rb-chart-view and the
 * spec in <script type="application/json" class="rb-chart-spec"> is drawn by vega-embed.
 */
export const CHART_BOOT = `(function(){
  var figs = document.querySelectorAll('figure.rb-chart[data-interactive]');
  Array.prototype.forEach.call(figs, function(fig){
    var view = fig.querySelector('.rb-chart-view'), img = fig.querySelector('.rb-chart-png');
    function fail(e){
      view.textContent = '';
      fig.setAttribute('data-interactive', 'failed');
      fig.setAttribute('data-error', String(e && e.message || e));
      if (!img) { var p = document.createElement('div'); p.className = 'rb-chart-missing'; p.textContent = 'This chart could not be drawn: ' + String(e && e.message || e); fig.appendChild(p); }
      if (window.console) console.warn('replaybook chart:', e);
    }
    try {
      if (typeof window.vegaEmbed !== 'function') throw new Error('vega-embed did not load');
      var spec = JSON.parse(fig.querySelector('script.rb-chart-spec').textContent);
      window.vegaEmbed(view, spec, { mode: fig.getAttribute('data-mode'), actions: false, renderer: 'svg' }).then(function(){
        if (img) img.style.display = 'none';
        fig.setAttribute('data-interactive', 'drawn');
      }, fail);
    } catch (e) { fail(e); }
  });
})();`;

