// replaybook's library API (`import ... from 'replaybook'`): what README.md documents, and the
// types those calls take and return. The notebook API the kernel preloads is 'replaybook/notebook'
// (kernel/README.md). Wire-level pieces (the engine's config lines, config-file rewriting, errno
// tables) stay inside; tests reach them by their own paths.

// The store: embedded chDB or a ClickHouse server, and moving incidents between stores.
export { openEventStore, openServerStore, openStore, storeHome, StoreError, type EventStore, type IncidentFilter, type ChdbStore } from './store';
export type { ServerStore, OpenEventStoreOptions, ServerStoreOptions, GarbageOptions, GarbageReport, Removed } from './store';
export { copyIncident } from './store/copy';
export { packIncident, unpackIncident } from './store/pack';
export type { IncidentInfo, RunInfo, EventRow, EventKind } from './events/schema';
export { ReplaybookError } from './errors';

// Recording and replaying.
export { record, type LateDataOptions, type RecordOptions, type RecordResult } from './record/record';
export { replay, runTable } from './replay/replay';
export type { ReplayOptions, ReplayChanges, RunResult, Divergence, DivergentCall, Speed, InjectionReport, Unrecorded } from './replay/run';
export { ReplaySession, type SessionState, type SessionThread } from './replay/session';

// Injections (docs/injections.md).
export {
  delay,
  latency,
  fail,
  timeout,
  parseInjection,
  describeInjection,
  InjectionSpecError,
  InjectionApplyError,
  type Injection,
  type InjectionKind,
  type DelayInjection,
  type FailInjection,
  type LatencyInjection,
  type TimeoutInjection,
  type TimeoutTarget,
  type Selector,
  type When,
  type ArgMatch,
  type SelectorOptions,
  type DelayOptions,
} from './inject';

// Many runs and fix verification.
export {
  runMany,
  verifyFix,
  runSeed,
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

// Analyses and charts (vega-lite specs; writeChart renders one to JSON and PNG).
export { transactions, type Transaction } from './analysis/transactions';
export { timelineSpec, type TimelineOptions, type TimelineSpec } from './viz/timeline';
export { timingDiff, timingDiffSpec, type DiffInput, type DiffRow, type TimingDiff, type VariantDiff } from './viz/diff';
export { causalGraph, causalGraphSpec, type CausalGraph, type CausalNode, type CausalEdge, type CausalOptions } from './viz/causal';
export { plotSpec, type PlotOptions } from './viz/plot';
export { outcomeMatrixSpec, variantComparisonSpec, type Variant, type VariantRow, type MatrixCell } from './viz/verdict';
export { renderChart, writeChart } from './viz/render';

// SQL over the store with values as parameters (the notebook's sql tag, for store.query()).
export { toQuery as sqlQuery, fragment as sqlFragment, id as sqlId, raw as sqlRaw, join as sqlJoin, SqlFragment, type SqlQuery } from './notebook/sql';
export type { StoredRun } from './notebook/runs';

// Sharing a notebook as one HTML file (`replaybook export`).
export { exportNotebook, type ExportOptions, type ExportResult } from './export/export';
