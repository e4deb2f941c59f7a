// Widgets for notebook cells: a small typed API over ipywidgets 8's front end
// (@jupyter-widgets/controls 2.0.0, @jupyter-widgets/output 1.0.0), spoken through the widget
// protocol in ./widget. Each function opens a model in the front end; displaying the widget
// (display(w), or a panel) shows its view.
//
//   const s = slider({ min: 0, max: 10, value: 3, description: 'n' });
//   s.on('change', (v) => console.log(v));
//   const b = button({ description: 'go' }); b.on('click', () => ...);
//   display(vbox([hbox([s, b]), html('<b>hi</b>')]));
import * as util from 'node:util';
import { hasCommTransport } from './comm';
import { WIDGET_VIEW_MIME, WidgetModel, registerWidgetTargets, type WidgetState } from './widget';

export { WidgetModel, WIDGET_VIEW_MIME, PROTOCOL_VERSION, WIDGET_TARGET, liveModels } from './widget';
export { EXTENSION_MODULE, EXTENSION_MODULE_VERSION, frontendMimeTypes, probeFrontends } from './frontend';
export { commInfo, currentCell, handleCommMessage, setCommTransport, setCurrentCell, hasCommTransport, type CommTransport } from './comm';

const CONTROLS = '@jupyter-widgets/controls';
const BASE = '@jupyter-widgets/base';
const V2 = '2.0.0';
const DISPLAY = Symbol.for('replaybook.display');

type Listener<T> = (value: T) => unknown;

function layoutModel(layout: Record<string, string | null> = {}): WidgetModel {
  return new WidgetModel({
    _model_name: 'LayoutModel',
    _model_module: BASE,
    _model_module_version: V2,
    _view_name: 'LayoutView',
    _view_module: BASE,
    _view_module_version: V2,
    ...layout,
  });
}

function styleModel(name: string, style: Record<string, unknown> = {}): WidgetModel {
  return new WidgetModel({
    _model_name: name,
    _model_module: CONTROLS,
    _model_module_version: V2,
    _view_name: 'StyleView',
    _view_module: BASE,
    _view_module_version: V2,
    ...style,
  });
}

export interface CommonOptions {
  /** CSS layout (ipywidgets' Layout): width, height, margin, border, display, flex... */
  layout?: Record<string, string | null>;
  /** Classes on the view's element (for pages and tests to find it). */
  classes?: string[];
  tooltip?: string;
  disabled?: boolean;
}

const ref = (m: WidgetModel): string => `IPY_MODEL_${m.id}`;

/** A widget shown by ipywidgets' front end. */
export class Widget {
  readonly model: WidgetModel;
  readonly layout: WidgetModel;
  readonly style: WidgetModel | null;

  constructor(model: string, view: string, state: WidgetState, o: CommonOptions = {}, style: string | null = null, module = CONTROLS, version = V2) {
    registerWidgetTargets();
    this.layout = layoutModel(o.layout);
    this.style = style ? styleModel(style) : null;
    this.model = new WidgetModel({
      _model_name: model,
      _model_module: module,
      _model_module_version: version,
      _view_name: view,
      _view_module: module,
      _view_module_version: version,
      _dom_classes: o.classes ?? [],
      layout: ref(this.layout),
      ...(this.style ? { style: ref(this.style) } : {}),
      tabbable: null,
      tooltip: o.tooltip ?? null,
      ...(o.disabled !== undefined ? { disabled: o.disabled } : {}),
      ...state,
    });
  }

  get id(): string {
    return this.model.id;
  }

  get disabled(): boolean {
    return Boolean(this.model.get('disabled'));
  }
  set disabled(v: boolean) {
    this.model.set({ disabled: v });
  }

  /** Closes the models (the views go away). */
  close(): void {
    this.model.close();
    this.layout.close();
    this.style?.close();
  }

  /** The display bundle: the widget's view, with a line of text where widgets cannot show. */
  bundle(fallback: Record<string, string> = {}): Record<string, unknown> {
    return {
      [WIDGET_VIEW_MIME]: { version_major: 2, version_minor: 1, model_id: this.model.id },
      'text/plain': `${this.constructor.name}(${this.model.get('_model_name')} ${this.model.id.slice(0, 8)})`,
      ...fallback,
    };
  }

  [DISPLAY](): Record<string, unknown> {
    return this.bundle();
  }

  [util.inspect.custom](): string {
    return `${this.constructor.name}(${this.model.get('_model_name')} ${this.model.id.slice(0, 8)}${hasCommTransport() ? '' : ', no front end'})`;
  }
}

/** A widget with a value the front end may change: 'change' listeners get the new value. */
export class ValueWidget<T> extends Widget {
  get value(): T {
    return this.model.get<T>('value');
  }
  set value(v: T) {
    this.model.set({ value: v });
  }
  on(event: 'change', fn: Listener<T>): this {
    if (event !== 'change') throw new TypeError(`${this.constructor.name} fires 'change', not '${String(event)}'`);
    this.model.on('change', (c) => {
      if (c.name === 'value') return fn(c.new as T);
    });
    return this;
  }
}

export interface SliderOptions extends CommonOptions {
  min?: number;
  max?: number;
  step?: number;
  value?: number;
  description?: string;
  /** Send the value while dragging (default false: when released). */
  continuousUpdate?: boolean;
}

export class Slider extends ValueWidget<number> {
  constructor(o: SliderOptions = {}) {
    const min = o.min ?? 0;
    super(
      'IntSliderModel',
      'IntSliderView',
      {
        value: o.value ?? min,
        min,
        max: o.max ?? 100,
        step: o.step ?? 1,
        description: o.description ?? '',
        description_allow_html: false,
        orientation: 'horizontal',
        readout: true,
        readout_format: 'd',
        continuous_update: o.continuousUpdate ?? false,
        disabled: false,
        behavior: 'drag-tap',
      },
      o,
      'SliderStyleModel',
    );
  }
  get max(): number {
    return this.model.get<number>('max');
  }
  set max(v: number) {
    this.model.set({ max: v });
  }
}

export function slider(o: SliderOptions = {}): Slider {
  return new Slider(o);
}

export interface ButtonOptions extends CommonOptions {
  description?: string;
  /** '', 'primary', 'success', 'info', 'warning', 'danger' */
  style?: string;
  icon?: string;
}

export class Button extends Widget {
  constructor(o: ButtonOptions = {}) {
    super('ButtonModel', 'ButtonView', { description: o.description ?? '', button_style: o.style ?? '', icon: o.icon ?? '', disabled: false }, o, 'ButtonStyleModel');
  }
  on(event: 'click', fn: Listener<void>): this {
    if (event !== 'click') throw new TypeError(`Button fires 'click', not '${String(event)}'`);
    this.model.on('custom', (content) => {
      if (content.event === 'click') return fn();
    });
    return this;
  }
  get description(): string {
    return this.model.get<string>('description');
  }
  set description(v: string) {
    this.model.set({ description: v });
  }
}

export function button(o: ButtonOptions = {}): Button {
  return new Button(o);
}

export interface DropdownOptions<T> extends CommonOptions {
  /** Labels, or [label, value] pairs. */
  options: Array<string | [string, T]>;
  value?: T;
  description?: string;
}

export class Dropdown<T = string> extends Widget {
  private readonly values: T[];
  constructor(o: DropdownOptions<T>) {
    const labels = o.options.map((x) => (Array.isArray(x) ? x[0] : x));
    const values = o.options.map((x) => (Array.isArray(x) ? x[1] : (x as unknown as T)));
    const index = o.value === undefined ? (labels.length ? 0 : null) : values.indexOf(o.value);
    if (index === -1) throw new TypeError(`dropdown value ${String(o.value)} is not among its options`);
    super('DropdownModel', 'DropdownView', { _options_labels: labels, index, description: o.description ?? '', description_allow_html: false, disabled: false }, o, 'DescriptionStyleModel');
    this.values = values;
  }
  get value(): T | undefined {
    const i = this.model.get<number | null>('index');
    return i === null ? undefined : this.values[i];
  }
  set value(v: T | undefined) {
    const i = v === undefined ? -1 : this.values.indexOf(v);
    this.model.set({ index: i < 0 ? null : i });
  }
  on(event: 'change', fn: Listener<T | undefined>): this {
    if (event !== 'change') throw new TypeError(`Dropdown fires 'change', not '${String(event)}'`);
    this.model.on('change', (c) => {
      if (c.name === 'index') return fn(c.new === null ? undefined : this.values[c.new as number]);
    });
    return this;
  }
}

export function dropdown<T = string>(o: DropdownOptions<T>): Dropdown<T> {
  return new Dropdown<T>(o);
}

export interface TextOptions extends CommonOptions {
  value?: string;
  placeholder?: string;
  description?: string;
  continuousUpdate?: boolean;
}

/** A one-line text box; 'change' fires when the person presses Enter or leaves it. */
export class Text extends ValueWidget<string> {
  constructor(o: TextOptions = {}) {
    super(
      'TextModel',
      'TextView',
      { value: o.value ?? '', placeholder: o.placeholder ?? '', description: o.description ?? '', description_allow_html: false, continuous_update: o.continuousUpdate ?? false, disabled: false },
      o,
      'TextStyleModel',
    );
  }
}

export function text(o: TextOptions = {}): Text {
  return new Text(o);
}

/** HTML the front end shows as it is (the kernel's own markup: escape what comes from data). */
export class Html extends ValueWidget<string> {
  constructor(value = '', o: CommonOptions = {}) {
    super('HTMLModel', 'HTMLView', { value, placeholder: '', description: '', description_allow_html: false }, o, 'HTMLStyleModel');
  }
}

export function html(value = '', o: CommonOptions = {}): Html {
  return new Html(value, o);
}

export interface PlayOptions extends CommonOptions {
  min?: number;
  max?: number;
  step?: number;
  value?: number;
  /** Milliseconds between steps. */
  interval?: number;
  description?: string;
}

/** ipywidgets' Play: the front end advances `value` every `interval` ms while playing. */
export class Play extends ValueWidget<number> {
  constructor(o: PlayOptions = {}) {
    const min = o.min ?? 0;
    super(
      'PlayModel',
      'PlayView',
      { value: o.value ?? min, min, max: o.max ?? 100, step: o.step ?? 1, interval: o.interval ?? 100, playing: false, repeat: false, show_repeat: true, description: o.description ?? '', description_allow_html: false, disabled: false },
      o,
      'DescriptionStyleModel',
    );
  }
  get playing(): boolean {
    return Boolean(this.model.get('playing'));
  }
  set playing(v: boolean) {
    this.model.set({ playing: v });
  }
}

export function play(o: PlayOptions = {}): Play {
  return new Play(o);
}

/** Outputs (display bundles) shown inside a widget; show() appends, clear() empties. */
export class Output extends Widget {
  constructor(o: CommonOptions = {}) {
    super('OutputModel', 'OutputView', { outputs: [], msg_id: '' }, o, null, '@jupyter-widgets/output', '1.0.0');
  }
  show(data: Record<string, unknown>): void {
    this.model.set({ outputs: [...this.model.get<unknown[]>('outputs'), { output_type: 'display_data', data, metadata: {} }] });
  }
  /** Replaces the outputs with this bundle. */
  replace(data: Record<string, unknown>): void {
    this.model.set({ outputs: [{ output_type: 'display_data', data, metadata: {} }] });
  }
  clear(): void {
    this.model.set({ outputs: [] });
  }
}

export function output(o: CommonOptions = {}): Output {
  return new Output(o);
}

export class Box extends Widget {
  constructor(
    kind: 'HBox' | 'VBox',
    readonly children: Widget[],
    o: CommonOptions = {},
  ) {
    super(`${kind}Model`, `${kind}View`, { children: children.map((c) => ref(c.model)), box_style: '' }, o);
  }
  /** Puts `next` where `prev` is (the front end redraws the box). */
  swap(prev: Widget, next: Widget): void {
    const i = this.children.indexOf(prev);
    if (i < 0) return;
    this.children[i] = next;
    this.model.set({ children: this.children.map((c) => ref(c.model)) });
  }
  /** Adds `w` at the end (the front end redraws the box). */
  add(w: Widget): void {
    this.children.push(w);
    this.model.set({ children: this.children.map((c) => ref(c.model)) });
  }
  /** Closes the box and everything in it. */
  override close(): void {
    for (const c of this.children) c.close();
    super.close();
  }
}

export function hbox(children: Widget[], o: CommonOptions = {}): Box {
  return new Box('HBox', children, o);
}

export function vbox(children: Widget[], o: CommonOptions = {}): Box {
  return new Box('VBox', children, o);
}

export interface AnyWidgetOptions extends CommonOptions {
  /** The front-end module: ESM source exporting render({ model, el }) (or default { render }). */
  esm: string;
  /** anywidget's front-end version this kernel speaks to (its semver range). */
  version?: string;
}

/**
 * A model for anywidget's front end (where the anywidget extension is installed in Jupyter):
 * `_esm` is loaded in the browser and its render({ model, el }) draws the view; other traits
 * are the model's state; the module's model.send() arrives as 'custom'.
 */
export class AnyWidget extends Widget {
  constructor(traits: WidgetState, o: AnyWidgetOptions) {
    const version = o.version ?? '~0.9.*';
    super('AnyModel', 'AnyView', { _esm: o.esm, _css: '', _anywidget_id: 'replaybook', ...traits }, o, null, 'anywidget', version);
  }
  on(event: 'custom', fn: (content: Record<string, unknown>) => void): this {
    this.model.on('custom', fn);
    return this;
  }
}
