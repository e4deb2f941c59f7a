// What the connected front end renders. When a widget manager connects (JupyterLab 4 and
// Notebook 7 open the widget control comm as they attach to the kernel), the kernel opens a
// FrontendModel of replaybook's extension (labextension/); the front end's hello lists its MIME
// types in the order its renderers rank them. Chart bundles use it: a front end with its own
// vega-lite renderer draws the spec itself (src/notebook/bundle.ts). Front ends without the
// extension (Notebook 6, nbconvert, JupyterLab without it) never answer.
import { WidgetModel, onWidgetManager, registerWidgetTargets } from './widget';

/** The widget module of replaybook's JupyterLab 4 / Notebook 7 extension (labextension/package.json). */
export const EXTENSION_MODULE = 'replaybook-timeline';
export const EXTENSION_MODULE_VERSION = '0.1.0';

let probe: WidgetModel | null = null;
let mimeTypes: string[] | null = null;

/** The front end's MIME types, best ranked first, or null where no front end said. */
export function frontendMimeTypes(): readonly string[] | null {
  return mimeTypes;
}

/** Called once by the kernel: asks each front end that connects what it renders. */
export function probeFrontends(): void {
  registerWidgetTargets();
  onWidgetManager(() => {
    probe?.close();
    const m = new WidgetModel({
      _model_name: 'FrontendModel',
      _model_module: EXTENSION_MODULE,
      _model_module_version: EXTENSION_MODULE_VERSION,
      _view_name: null,
      _view_module: null,
      _view_module_version: '',
    });
    m.on('custom', (c) => {
      if (c.event === 'hello' && Array.isArray(c.mimetypes)) mimeTypes = c.mimetypes.map(String);
    });
    probe = m;
  });
}
