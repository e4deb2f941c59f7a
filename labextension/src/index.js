// replaybook's JupyterLab 4 / Notebook 7 extension: the replay panel's timeline as an ipywidgets 8
// widget (model TimelineModel, view TimelineView, module replaybook-timeline). The kernel opens
// the model; the view draws it with ./timeline.js. When the front end creates the model it says
// hello to the kernel, which is how a panel knows this front end draws its timeline (and falls
// back to an HTML widget where no hello comes). A second model, FrontendModel, is opened by the
// kernel when a widget manager connects: its hello carries the front end's MIME types in the
// order its renderers rank them, so the kernel shapes chart bundles for this front end's own
// renderers (JupyterLab's vega). Built by scripts/build-labextension.js with
// @jupyterlab/builder; `replaybook kernel install` puts the build where Jupyter looks.
import { DOMWidgetModel, DOMWidgetView, IJupyterWidgetRegistry, WidgetModel } from '@jupyter-widgets/base';
import { initialize, render } from './timeline';

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
    registry.registerWidget({ name: MODULE, version: VERSION, exports: { TimelineModel, TimelineView, FrontendModel } });
  },
};

export default plugin;
