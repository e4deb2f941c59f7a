// A chart shown inside a replay panel (p.show(await timeline(run)), or panel(incident, { charts })):
// a widget of replaybook's extension (ChartModel / ChartView in labextension/src/index.js) that
// the front end draws with its own vega-lite renderer. A click on a mark comes back as the
// timeline's does ({ event: 'jump', seq }, sendJump in labextension/src/timeline.js) with the
// event the mark stands for (its row's seq, or a bin's first_seq); the panel jumps there when
// its replay can reach it. Front ends without the extension get the chart's PNG.
import { escapeHtml } from '../escape';
import { MONO } from '../notebook/html';
import { renderChart } from '../viz/render';
import { Widget, html, type Html } from '../widgets';
import { TIMELINE_MODULE, TIMELINE_MODULE_VERSION } from './timeline';

/** A chart as the notebook's chart functions return it (timeline(), plot()…), or a vega-lite spec. */
export type PanelChartInput = { readonly spec: object } | Record<string, unknown>;

/** Which events a chart's marks are: its incident and run (usermeta.replaybook), null where it does not say. */
export interface ChartOrigin {
  incident: string | null;
  run: string | null;
  title: string;
}

function specOf(x: PanelChartInput): Record<string, unknown> {
  const spec = 'spec' in x && x.spec && typeof x.spec === 'object' && !('$schema' in x) ? x.spec : x;
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) throw new TypeError('a panel shows a chart (timeline(run), plot(…)) or a vega-lite spec');
  return JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;
}

function originOf(spec: Record<string, unknown>, n: number): ChartOrigin {
  const meta = ((spec.usermeta as { replaybook?: Record<string, unknown> } | undefined)?.replaybook ?? {}) as Record<string, unknown>;
  const t = spec.title;
  const title = typeof t === 'string' ? t : t && typeof t === 'object' && typeof (t as { text?: unknown }).text === 'string' ? (t as { text: string }).text : `chart ${n}`;
  return { incident: typeof meta.incident === 'string' && meta.incident ? meta.incident : null, run: typeof meta.run === 'string' && meta.run ? meta.run : null, title };
}

let chartCount = 0;

export class PanelChart {
  /** The chart drawn by replaybook's extension, clickable. */
  readonly widget: Widget;
  /** Its PNG in an HTML widget, for front ends without the extension (made when needed). */
  private fallbackWidget: Html | null = null;

  private constructor(
    readonly spec: Record<string, unknown>,
    readonly origin: ChartOrigin,
    readonly png: string,
  ) {
    this.widget = new Widget('ChartModel', 'ChartView', { spec, png }, { classes: ['rb-chart'] }, null, TIMELINE_MODULE, TIMELINE_MODULE_VERSION);
  }

  static async of(x: PanelChartInput): Promise<PanelChart> {
    const spec = specOf(x);
    const { png } = await renderChart(spec);
    return new PanelChart(spec, originOf(spec, ++chartCount), png.toString('base64'));
  }

  /** The PNG, and why it is not clickable here. */
  get fallback(): Html {
    this.fallbackWidget ??= html(
      `<div class="rb-chart-static"><img alt="${escapeHtml(this.origin.title)}" style="max-width:100%" src="data:image/png;base64,${this.png}">` +
        `<div style="${MONO};font-size:11px;color:#888">clicking its marks needs replaybook's extension in this front end (replaybook kernel install)</div></div>`,
      { classes: ['rb-chart'] },
    );
    return this.fallbackWidget;
  }

  close(): void {
    this.widget.close();
    this.fallbackWidget?.close();
  }
}
