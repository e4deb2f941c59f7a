// What every chart shares: the vega-lite version and the look. The font is the one the PNG
// renderer (render.ts) loads, so the PNG and the live chart set text alike.

export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

export const CHART_FONT = 'DejaVu Sans';

export const CHART_CONFIG = {
  font: CHART_FONT,
  background: 'white',
  view: { stroke: '#dddddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, subtitleFontSize: 11, subtitleColor: '#555555' },
};
