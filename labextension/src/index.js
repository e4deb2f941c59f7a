// replaybook's JupyterLab 4 / Notebook 7 extension: the replay panel's timeline as an ipywidgets 8
// widget (model TimelineModel, view TimelineView, module replaybook-timeline). The kernel opens
// the model; the view draws it with ./timeline.js. When the front end creates the model it says
// hello to the kernel, which is how a panel knows this front end draws its timeline (and falls
// back to an HTML widget where no hello comes). A second model, FrontendModel, is opened by the
// kernel when a widget manager connects: its hello carries the front end's MIME types in the
// order its renderers rank them, so the kernel shapes chart bundles for this front end's own
// renderers (JupyterLab's vega). ChartModel / ChartView: a vega-lite chart shown inside a replay
// panel, drawn by the front end's own vega renderer, whose marks jump the panel's replay to the
// event they stand for (sendJump, as the timeline's marks do). Built by scripts/build-labextension.js with
// @jupyterlab/builder; `replaybook kernel install` puts the build where Jupyter looks.
import { DOMWidgetModel, DOMWidgetView, IJupyterWidgetRegistry, WidgetModel } from '@jupyter-widgets/base';
import { initialize, render, sendJump } from './timeline';

const VEGALITE_MIME = 'application/vnd.vegalite.v5+json';

const pkg = require('../package.json');

export const MODULE = pkg.name;
export const VERSION = pkg.version;

export class TimelineModel extends DOMWidgetModel {
  defaults() {
    return {
      ...super.defaults(),
      _model_name: 'TimelineModel',
      _model_module: MODULE,
      _model_module_version: VERSION,
      _view_name: 'TimelineView',
      _view_module: MODULE,
      _view_module_version: VERSION,
    };
  }

  initialize(attributes, options) {
    super.initialize(attributes, options);
    initialize({ model: this }, `${MODULE} ${VERSION}`);
  }
}

export class TimelineView extends DOMWidgetView {
  render() {
    super.render();
    this.el.classList.add('rb-timeline-ext');
    this.undraw = render({ model: this.model, el: this.el });
  }

  remove() {
    if (this.undraw) this.undraw();
    this.undraw = null;
    return super.remove();
  }
}

/** The event a chart's item stands for: its datum's seq, or the first of a bin (first_seq). */
function itemSeq(item) {
  const d = item && item.datum;
  if (!d || typeof d !== 'object' || !('seq' in d || 'first_seq' in d)) return undefined;
  return typeof d.seq === 'number' ? d.seq : typeof d.first_seq === 'number' ? d.first_seq : null;
}

export class ChartModel extends DOMWidgetModel {
  defaults() {
    return {
      ...super.defaults(),
      _model_name: 'ChartModel',
      _model_module: MODULE,
      _model_module_version: VERSION,
      _view_name: 'ChartView',
      _view_module: MODULE,
      _view_module_version: VERSION,
      spec: null,
      png: '',
    };
  }
}

/**
 * Draws the spec with the front end's vega-lite renderer (JupyterLab 4 / Notebook 7:
 * @jupyterlab/vega5-extension, as SVG so each mark is an element) and listens to the vega view's
 * clicks; where there is no such renderer, the PNG.
 */
export class ChartView extends DOMWidgetView {
  render() {
    super.render();
    this.el.classList.add('rb-chart-ext');
    void this.draw();
  }

  async draw() {
    const rm = this.model.widget_manager && this.model.widget_manager.rendermime;
    const spec = this.model.get('spec');
    if (!rm || rm.mimeTypes.indexOf(VEGALITE_MIME) < 0 || !spec) {
      const img = document.createElement('img');
      img.src = 'data:image/png;base64,' + this.model.get('png');
      this.el.appendChild(img);
      this.el.setAttribute('data-clickable', 'false');
      return;
    }
    const renderer = rm.createRenderer(VEGALITE_MIME);
    this.renderer = renderer;
    const png = this.model.get('png');
    const data = { [VEGALITE_MIME]: spec };
    if (png) data['image/png'] = png;
    await renderer.renderModel(rm.createModel({ data, metadata: { [VEGALITE_MIME]: { embed_options: { renderer: 'svg', actions: false } } } }));
    this.el.appendChild(renderer.node);
    // RenderedVega keeps vega-embed's result; its view reports which item a click hit.
    const view = renderer._result && renderer._result.view;
    if (!view) {
      this.el.setAttribute('data-clickable', 'false');
      return;
    }
    view.addEventListener('click', (_event, item) => {
      const seq = itemSeq(item);
      if (seq !== undefined) sendJump(this.model, seq);
    });
    this.el.setAttribute('data-clickable', 'true');
  }

  remove() {
    if (this.renderer) this.renderer.dispose();
    this.renderer = null;
    return super.remove();
  }
}

/** No view: says which MIME types this front end renders, best first (its rendermime's ranks). */
export class FrontendModel extends WidgetModel {
  defaults() {
    return {
      ...super.defaults(),
      _model_name: 'FrontendModel',
      _model_module: MODULE,
      _model_module_version: VERSION,
      _view_name: null,
      _view_module: null,
      _view_module_version: '',
    };
  }

  initialize(attributes, options) {
    super.initialize(attributes, options);
    const rendermime = this.widget_manager && this.widget_manager.rendermime;
    this.send({ event: 'hello', frontend: `${MODULE} ${VERSION}`, mimetypes: rendermime ? rendermime.mimeTypes : [] });
  }
}

const plugin = {
  id: 'replaybook-timeline:plugin',
  description: "The replay panel's clickable timeline.",
  requires: [IJupyterWidgetRegistry],
  autoStart: true,
  activate: (_app, registry) => {
    registry.registerWidget({ name: MODULE, version: VERSION, exports: { TimelineModel, TimelineView, ChartModel, ChartView, FrontendModel } });
  },
};

export default plugin;
