// replaybook's library API: what notebooks, the CLI and tests use.
export * from './events/schema';
export { ReplaybookError } from './errors';
export { openStore, storeHome, StoreError, type EventStore, type IncidentFilter, type ChdbStore } from './store';
export { openEventStore, openServerStore, type ServerStore, type OpenEventStoreOptions, type ServerStoreOptions } from './store';
export { copyIncident } from './store/copy';
export { record, type LateDataOptions, type RecordOptions, type RecordResult } from './record/record';
export { replay, runTable, type ReplayOptions, type RunResult, type Divergence, type DivergentCall, type Speed } from './replay/replay';
export { writtenTo } from './replay/outputs';
export {
  runMany,
  verifyFix,
  runSeed,
  successTest,
  describeSuccess,
  summarizeRun,
  runsTable,
  isVerdict,
  isManyRuns,
  DEFAULT_JITTER_MS,
  DEFAULT_VERIFY_RUNS,
  type RunManyOptions,
  type ManyRuns,
  type RunSummary,
  type RunProgress,
  type Fix,
  type VerifyOptions,
  type Verdict,
  type SuccessPredicate,
} from './replay/verify';
export { type InjectionReport, type Unrecorded } from './replay/replay';
export { ReplaySession, type SessionState, type SessionThread } from './replay/session';
export { transactions, type Transaction } from './analysis/transactions';
export { packIncident, unpackIncident } from './store/pack';
export { timelineSpec, type TimelineOptions, type TimelineSpec } from './viz/timeline';
export { timingDiff, timingDiffSpec, alignEvents, diffSummaryLine, type DiffInput, type DiffRow, type TimingDiff, type VariantDiff } from './viz/diff';
export { causalGraph, causalGraphSpec, type CausalGraph, type CausalNode, type CausalEdge, type CausalOptions } from './viz/causal';
export { plotSpec, tableRows, type PlotOptions } from './viz/plot';
export { toQuery as sqlQuery, fragment as sqlFragment, id as sqlId, raw as sqlRaw, join as sqlJoin, SqlFragment, type SqlQuery } from './notebook/sql';
export { storedRun, type StoredRun } from './notebook/runs';
export { outcomeMatrixSpec, variantComparisonSpec, variantRows, longestCall, type Variant, type VariantRow, type MatrixCell } from './viz/verdict';
export { renderChart, writeChart } from './viz/render';
export {
  delay,
  latency,
  fail,
  timeout,
  signal,
  parseInjection,
  parseInjectionSpec,
  renderSpec,
  describeInjection,
  injectionFromJSON,
  toEngineConfig,
  applyToCommand,
  applyToFile,
  rewriteConfig,
  editConfig,
  detectConfigFormat,
  whenHits,
  globMatch,
  errnoByName,
  errnoByNumber,
  signalByName,
  signalByNumber,
  InjectionSpecError,
  InjectionApplyError,
  ENGINE_SCHEMA_VERSION,
  TIMEOUT_SYSCALLS,
  type Injection,
  type InjectionKind,
  type DelayInjection,
  type FailInjection,
  type SignalInjection,
  type LatencyInjection,
  type TimeoutInjection,
  type TimeoutTarget,
  type Selector,
  type When,
  type ArgMatch,
  type SelectorOptions,
  type DelayOptions,
  type CommandRewrite,
  type ConfigFormat,
} from './inject';
export { exportNotebook } from './export/export';
