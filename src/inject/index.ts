// Injections: counterfactual replay's edits to a recorded incident, as data (types.ts holds the
// schema the engine reads).
export * from './types';
export { InjectionSpecError, InjectionApplyError } from './errors';
export { parseInjection, parseInjectionSpec, renderSpec, INJECTION_FLAGS, type InjectionFlag } from './parse';
export { delay, fail, latency, timeout, signal, injectionFromJSON, type SelectorOptions, type DelayOptions } from './build';
export { describeInjection, describeWhen, formatUs } from './describe';
export { whenHits, globMatch, formatWhen } from './fields';
export { toEngineConfig, percentEncode, percentDecode, engineObject } from './serialize';
export {
  applyToCommand,
  applyToFile,
  rewriteConfig,
  editConfig,
  detectConfigFormat,
  type CommandRewrite,
  type CommandChange,
  type ApplyOptions,
  type ConfigFormat,
  type ConfigChange,
  type ConfigRewrite,
} from './rewrite';
export { errnoByName, errnoByNumber, errnoNames, signalByName, signalByNumber, signalNames, type NamedNumber } from '../events/errno';
export { syscallRows, SYSCALL_CLASS_NAMES } from './syscalls';
