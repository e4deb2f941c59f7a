// Static rendering of vega-lite charts: vega-lite → vega → SVG (headless vega view) → PNG (resvg).
// Every chart goes out as vega-lite JSON plus a PNG so it shows in JupyterLab, Classic Notebook
// and exported HTML alike.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

import { CHART_FONT } from './style';

export { CHART_FONT };

export interface RenderOptions {
  /** PNG pixels per SVG pixel (default 1). */
  scale?: number;
}

export interface RenderedChart {
  svg: string;
  png: Buffer;
}

/** Compiles a vega-lite spec and renders it headless to SVG and PNG. */
export async function renderChart(spec: object, opts: RenderOptions = {}): Promise<RenderedChart> {
  // vega tags the inline data rows it ingests: render a copy so the caller's spec stays plain.
  const vgSpec = compile(structuredClone(spec) as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  const scale = opts.scale ?? 1;
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: scale === 1 ? { mode: 'original' } : { mode: 'zoom', value: scale },
    font: {
      loadSystemFonts: true,
      defaultFontFamily: CHART_FONT,
      sansSerifFamily: CHART_FONT,
    },
  });
  const png = resvg.render().asPng();
  return { svg, png };
}

/** Writes `<base>.vl.json` (the spec) and `<base>.png` (its rendering); creates the directory. */
export async function writeChart(
  spec: object,
  basePath: string,
  opts: RenderOptions = {},
): Promise<{ specPath: string; pngPath: string }> {
  const specPath = `${basePath}.vl.json`;
  const pngPath = `${basePath}.png`;
  const { png } = await renderChart(spec, opts);
  await fs.mkdir(path.dirname(path.resolve(specPath)), { recursive: true });
  await fs.writeFile(specPath, `${JSON.stringify(spec)}\n`);
  await fs.writeFile(pngPath, png);
  return { specPath, pngPath };
}

/**
 * A vega-lite chart as replaybook builds it: its rows inline (so the bundle is self-contained),
 * and what replaybook knows about it under usermeta.replaybook (what tests and displays read).
 */
export interface ChartSpec<Row, Meta> {
  $schema: string;
  data: { values: Row[] };
  usermeta: { replaybook: Meta };
  [key: string]: unknown;
}
