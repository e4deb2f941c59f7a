// Many runs of one incident and fix verification (DESIGN.md, "Injections: counterfactual replay",
// "Many runs"). runMany replays an incident N times with seeded timing jitter; verifyFix checks
// that the recorded failure reproduces, that a fix (injections and/or a rebuilt binary) turns it
// into a success, and that the fix keeps succeeding when the outside answers a little later.
//
// Jitter seeds. A batch has one seed S (a non-negative safe integer, random when not given; the
// result reports it). Run i (1-based) replays with the jitter seed
//
//   seed_i = the first 4 bytes, big-endian, of SHA-256 of the ASCII text `${S}:${i}`
//
// an unsigned 32-bit number (what the engine's generator is seeded with). So run 3 of seed 42
// always uses the same delays, whatever the number of runs, and any single run can be repeated
// with replay(id, { jitter: { ms, seed: seed_i } }). With the same S, jitter, injections and
// binary, a batch gives the same outcomes and output run for run.
import { createHash, randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import { tableFromArrays, type Table } from 'apache-arrow';
import { ReplaybookError } from '../errors';
import { lastLine } from '../format';
import { fixDescription, runList, runStatus } from './describe';
import { applyToCommand } from '../inject/rewrite';
import { checkInjections } from './session';
import type { Injection } from '../inject/types';
import { replay } from './replay';
import { loadIncident, type ReplayOptions, type RunResult, type Speed, type Unrecorded } from './run';

/**
 * When a run counts as a success: exit status 0 by default; `{ exitCode: n }`; `{ stdoutIncludes:
 * text }`; or any function of the run. The object forms also need the run to have ended by itself:
 * a run that diverged from the log or was stopped at an unrecorded interaction never succeeds.
 */
export type SuccessPredicate = { exitCode: number } | { stdoutIncludes: string } | ((run: RunResult) => boolean);

/** Default jitter bound of verifyFix and `replaybook verify`, in milliseconds. */
export const DEFAULT_JITTER_MS = 300;
export const DEFAULT_VERIFY_RUNS = 10;

/** One run of a batch, as plain data (JSON-serialisable). */
export interface RunSummary {
  /** 1-based position in the batch; 0 for a verdict's baseline and fix runs. */
  index: number;
  /** 'baseline', 'fix', or 'run 3'. */
  label: string;
  runId: string;
  /** The run's jitter seed (see the header), or null for a run without jitter. */
  seed: number | null;
  /** Jitter bound in ms (0: none). */
  jitterMs: number;
  exitCode: number | null;
  signal: string | null;
  /** `exit 0`, `killed by SIGKILL`, `diverged at seq 12`, `stopped: unrecorded connect`. */
  status: string;
  /** Per the batch's success predicate. */
  success: boolean;
  /** Same exit status, output and syscalls as the recording. */
  reproduced: boolean;
  wallMs: number;
  events: number;
  stdout: string;
  stderr: string;
  policy: 'strict' | 'stream';
  switchedAt: { seq: number; reason: string } | null;
  /** `seq 12: <reason>` when the run diverged, else null. */
  divergence: string | null;
  unrecorded: Unrecorded[];
  stored: RunResult['stored'];
}

/** What runMany reports on each run: before it starts (`run` null) and when it ended. */
export interface RunProgress {
  stage: 'baseline' | 'fix' | 'jittered' | 'run';
  /** 1-based within the stage. */
  index: number;
  total: number;
  seed: number | null;
  /** The finished run, or null when it is about to start. */
  run: RunSummary | null;
}

/**
 * What a batch passes on to each of its replays: every ReplayOptions field but the run's own
 * jitter seed, label and event progress. `speed` defaults to 'max' here: outcomes under the stream
 * policy do not depend on wall-clock speed.
 */
type PassedOn = Omit<ReplayOptions, 'jitter' | 'label' | 'onProgress'>;

interface BatchOptions extends PassedOn {
  success?: SuccessPredicate;
  onProgress?(p: RunProgress): void;
  /** Called with every full result (events included) as it ends; the batch keeps only summaries. */
  onRun?(run: RunResult, summary: RunSummary): void;
}

export interface RunManyOptions extends BatchOptions {
  runs: number;
  /** Every recorded arrival up to `ms` later, drawn per run from its seed (default: no jitter). */
  jitter?: { ms: number };
  /** The batch seed (default: a random one, reported in the result). */
  seed?: number;
}

/** runMany's result: one summary per run, in order. */
export interface ManyRuns {
  kind: 'runs';
  incident: string;
  seed: number;
  jitterMs: number;
  speed: Speed;
  injections: Injection[];
  binary: string | null;
  /** The success predicate in words. */
  success: string;
  runs: RunSummary[];
  succeeded: number;
  failed: number;
  /** 1-based indexes of the failed runs. */
  failedRuns: number[];
  wallMs: number;
}

/** A fix: injections (a new timeout, a latency, ...), a rebuilt binary, or both. */
export type Fix = Pick<ReplayOptions, 'injections' | 'binary'>;

export interface VerifyOptions extends Omit<BatchOptions, 'injections' | 'binary' | 'onRun'> {
  /** Jittered runs of the fix (default 10; 0 skips step 3). */
  runs?: number;
  /** Default { ms: 300 }. */
  jitter?: { ms: number };
  seed?: number;
  onRun?(run: RunResult, summary: RunSummary, stage: RunProgress['stage']): void;
}

/** verifyFix's answer. */
export interface Verdict {
  kind: 'verdict';
  incident: string;
  verified: boolean;
  /** One sentence: `verified: ...` or `not verified: 4 of 10 jittered runs failed (runs 2, 5, 7, 9)`. */
  reason: string;
  fix: { injections: Injection[]; binary: string | null; description: string[] };
  success: string;
  /** The original replayed (no injections): must reproduce the recording, and fail. */
  baseline: RunSummary;
  /** The fix without jitter: must succeed. */
  fixed: RunSummary;
  /** The fix with jitter: all must succeed. */
  jittered: RunSummary[];
  /** 1-based indexes of the jittered runs that failed. */
  failedRuns: number[];
  checks: { baselineFails: boolean; fixSucceeds: boolean; jitteredSucceed: boolean };
  seed: number;
  jitterMs: number;
  speed: Speed;
  wallMs: number;
}

/** The jitter seed of run `index` (1-based) of a batch seeded with `seed` (see the header). */
export function runSeed(seed: number, index: number): number {
  return createHash('sha256').update(`${seed}:${index}`, 'ascii').digest().readUInt32BE(0);
}

function checkSeed(seed: number | undefined): number {
  if (seed === undefined) return randomInt(0, 2 ** 32);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new ReplaybookError('bad_seed', `the seed must be a non-negative whole number, not ${String(seed)}`);
  return seed;
}

function checkJitter(ms: number | undefined): number {
  const v = ms ?? 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 3_600_000) {
    throw new ReplaybookError('bad_jitter', `jitter must be between 0 and 3600000 ms, not ${String(ms)}`);
  }
  return v;
}

function checkRuns(n: number | undefined, min: number): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > 100_000) {
    throw new ReplaybookError('bad_runs', `the number of runs must be a whole number from ${min} to 100000, not ${String(n)}`);
  }
  return n;
}

function ended(r: RunResult): boolean {
  return !r.divergence && !r.unrecorded.some((u) => u.policy === 'error');
}

/** The predicate as a test over runs. */
export function successTest(p: SuccessPredicate | undefined): (r: RunResult) => boolean {
  if (p === undefined) return (r) => ended(r) && r.signal === null && r.exitCode === 0;
  if (typeof p === 'function') return (r) => Boolean(p(r));
  if (p && typeof p === 'object' && 'exitCode' in p && Number.isInteger(p.exitCode)) {
    const code = p.exitCode;
    return (r) => ended(r) && r.signal === null && r.exitCode === code;
  }
  if (p && typeof p === 'object' && 'stdoutIncludes' in p && typeof p.stdoutIncludes === 'string') {
    const needle = p.stdoutIncludes;
    return (r) => ended(r) && r.stdout.toString('utf8').includes(needle);
  }
  throw new ReplaybookError('bad_predicate', `success must be { exitCode: n }, { stdoutIncludes: 'text' } or a function of the run, not ${util.inspect(p)}`);
}

/** The predicate in words: `exit status 0`, `stdout contains "payment ok"`, `a custom test`. */
export function describeSuccess(p: SuccessPredicate | undefined): string {
  if (p === undefined) return 'exit status 0';
  if (typeof p === 'function') return p.name ? `the test ${p.name}()` : 'a custom test';
  if ('exitCode' in p) return `exit status ${p.exitCode}`;
  return `stdout contains ${JSON.stringify(p.stdoutIncludes)}`;
}

/** A run as a summary row. */
export function summarizeRun(r: RunResult, o: { index: number; label: string; seed: number | null; jitterMs: number; success: boolean }): RunSummary {
  return {
    index: o.index,
    label: o.label,
    runId: r.runId,
    seed: o.seed,
    jitterMs: o.jitterMs,
    exitCode: r.exitCode,
    signal: r.signal,
    status: runStatus(r),
    success: o.success,
    reproduced: r.reproduced,
    wallMs: Math.round(r.wallMs * 1000) / 1000,
    events: r.events,
    stdout: r.stdout.toString('utf8'),
    stderr: r.stderr.toString('utf8'),
    policy: r.policy,
    switchedAt: r.switchedAt,
    divergence: r.divergence ? `seq ${r.divergence.seq}: ${r.divergence.reason}` : null,
    unrecorded: r.unrecorded,
    stored: r.stored,
  };
}

/** One run's options: the batch's, less its own callbacks and predicate, with the run's fix and jitter. */
function replayOptions(o: PassedOn & { success?: unknown; onProgress?: unknown; onRun?: unknown }, fix: Fix, jitter: ReplayOptions['jitter']): ReplayOptions {
  const { success, onProgress, onRun, ...passedOn } = o;
  return { ...passedOn, speed: o.speed ?? 'max', injections: fix.injections, binary: fix.binary, jitter };
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ReplaybookError('interrupted', 'stopped: the runs were interrupted');
}

async function batch(
  incidentId: string,
  o: BatchOptions,
  runs: number,
  seed: number,
  jitterMs: number,
  stage: 'run' | 'jittered',
  test: (r: RunResult) => boolean,
): Promise<RunSummary[]> {
  const out: RunSummary[] = [];
  for (let i = 1; i <= runs; i++) {
    checkAborted(o.signal);
    const s = runSeed(seed, i);
    o.onProgress?.({ stage, index: i, total: runs, seed: s, run: null });
    const r = await replay(incidentId, replayOptions(o, o, jitterMs > 0 ? { ms: jitterMs, seed: s } : undefined));
    const summary = summarizeRun(r, { index: i, label: `run ${i}`, seed: s, jitterMs, success: test(r) });
    out.push(summary);
    o.onRun?.(r, summary);
    o.onProgress?.({ stage, index: i, total: runs, seed: s, run: summary });
  }
  return out;
}

function inspectable<T extends object>(x: T, line: (x: T) => string): T {
  Object.defineProperty(x, util.inspect.custom, { value: () => line(x), enumerable: false });
  return x;
}

/**
 * Replays an incident `runs` times, run i with the jitter seed runSeed(seed, i), and reports each
 * run's seed, exit status, success (per `success`), wall time, stdout, policy and run id.
 */
export async function runMany(incidentId: string, o: RunManyOptions): Promise<ManyRuns> {
  const runs = checkRuns(o.runs, 1);
  const jitterMs = checkJitter(o.jitter?.ms);
  const seed = checkSeed(o.seed);
  const test = successTest(o.success);
  const started = process.hrtime.bigint();
  const list = await batch(incidentId, o, runs, seed, jitterMs, 'run', test);
  const failedRuns = list.filter((r) => !r.success).map((r) => r.index);
  const result: ManyRuns = {
    kind: 'runs',
    incident: incidentId,
    seed,
    jitterMs,
    speed: o.speed ?? 'max',
    injections: o.injections ?? [],
    binary: o.binary ?? null,
    success: describeSuccess(o.success),
    runs: list,
    succeeded: list.length - failedRuns.length,
    failed: failedRuns.length,
    failedRuns,
    wallMs: Number(process.hrtime.bigint() - started) / 1e6,
  };
  return inspectable(result, manyRunsLine);
}

/** One line for a batch: `10 runs of INC (seed 42, jitter 300 ms): 6 succeeded, 4 failed (runs 2, 5, 7, 9)`. */
export function manyRunsLine(m: ManyRuns): string {
  const failed = m.failed ? `, ${m.failed} failed (${runList(m.failedRuns)})` : '';
  return `${m.runs.length} runs of ${m.incident} (seed ${m.seed}, jitter ${m.jitterMs} ms): ${m.succeeded} succeeded${failed}`;
}

function outcomeText(s: RunSummary): string {
  const out = lastLine(s.stdout, 80);
  return out ? `${s.status}: ${out}` : s.status;
}

/**
 * Verifies a fix: (1) the original replay reproduces the recorded outcome and that outcome is a
 * failure per `success`; (2) the fix, without jitter, succeeds; (3) `runs` jittered runs of the
 * fix (seeds as runMany's) all succeed. Every step runs, whatever the earlier ones gave, so the
 * verdict shows the whole picture.
 */
export async function verifyFix(incidentId: string, fix: Fix, o: VerifyOptions): Promise<Verdict> {
  const injections = fix.injections ?? [];
  if (injections.length === 0 && fix.binary === undefined) {
    throw new ReplaybookError('no_fix', 'verifyFix needs a fix: injections (a timeout, a latency, ...) or a rebuilt binary');
  }
  const runs = checkRuns(o.runs ?? DEFAULT_VERIFY_RUNS, 0);
  const jitterMs = checkJitter(o.jitter?.ms ?? DEFAULT_JITTER_MS);
  const seed = checkSeed(o.seed);
  const test = successTest(o.success);
  // A fix that cannot apply to this incident (a flag its command lacks, a missing binary) is
  // refused before the baseline runs.
  const info = await loadIncident(o.store, incidentId);
  applyToCommand(info.argv, info.env, injections);
  checkInjections(injections);
  if (fix.binary !== undefined && !fs.existsSync(path.resolve(fix.binary))) {
    throw new ReplaybookError('binary_missing', `the binary to replay, ${path.resolve(fix.binary)}, does not exist`);
  }
  const started = process.hrtime.bigint();
  const single = async (stage: 'baseline' | 'fix', inj: Injection[], binary: string | undefined): Promise<RunSummary> => {
    checkAborted(o.signal);
    o.onProgress?.({ stage, index: 1, total: 1, seed: null, run: null });
    const r = await replay(incidentId, replayOptions(o, { injections: inj, binary }, undefined));
    const s = summarizeRun(r, { index: 0, label: stage, seed: null, jitterMs: 0, success: test(r) });
    o.onRun?.(r, s, stage);
    o.onProgress?.({ stage, index: 1, total: 1, seed: null, run: s });
    return s;
  };

  const baseline = await single('baseline', [], undefined);
  const fixed = await single('fix', injections, fix.binary);
  const jittered = await batch(
    incidentId,
    { ...o, injections, binary: fix.binary, onRun: o.onRun && ((r, s) => o.onRun?.(r, s, 'jittered')) },
    runs,
    seed,
    jitterMs,
    'jittered',
    test,
  );

  const failedRuns = jittered.filter((r) => !r.success).map((r) => r.index);
  const checks = {
    baselineFails: baseline.reproduced && !baseline.success,
    fixSucceeds: fixed.success,
    jitteredSucceed: failedRuns.length === 0,
  };
  const verified = checks.baselineFails && checks.fixSucceeds && checks.jitteredSucceed;
  const problems: string[] = [];
  if (!baseline.reproduced) {
    problems.push(`the original replay does not reproduce the recording (${baseline.divergence ?? outcomeText(baseline)})`);
  } else if (baseline.success) {
    problems.push(`the recorded outcome is not a failure (${outcomeText(baseline)} meets ${describeSuccess(o.success)}), so there is nothing to fix`);
  }
  if (!fixed.success) problems.push(`the fixed replay fails (${outcomeText(fixed)})`);
  if (failedRuns.length > 0) problems.push(`${failedRuns.length} of ${runs} jittered runs failed (${runList(failedRuns)})`);
  const jitterText = runs === 0 ? '' : `, and all ${runs} runs with up to ${jitterMs} ms of jitter succeed (seed ${seed})`;
  const reason = verified
    ? `verified: the recorded failure reproduces (${baseline.status}), the fix succeeds (${fixed.status})${jitterText}`
    : `not verified: ${problems.join('; ')}`;

  const verdict: Verdict = {
    kind: 'verdict',
    incident: incidentId,
    verified,
    reason,
    fix: { injections, binary: fix.binary ?? null, description: fixDescription(fix) },
    success: describeSuccess(o.success),
    baseline,
    fixed,
    jittered,
    failedRuns,
    checks,
    seed,
    jitterMs,
    speed: o.speed ?? 'max',
    wallMs: Number(process.hrtime.bigint() - started) / 1e6,
  };
  return inspectable(verdict, (v) => `Verdict(${v.incident}: ${v.reason})`);
}

export function isVerdict(x: unknown): x is Verdict {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'verdict' && Array.isArray((x as Verdict).jittered);
}

export function isManyRuns(x: unknown): x is ManyRuns {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'runs' && Array.isArray((x as ManyRuns).runs);
}

/** Summaries as an Arrow table (one row per run), for SQL-like work in a notebook. */
export function runsTable(runs: RunSummary[]): Table {
  return tableFromArrays({
    index: Int32Array.from(runs.map((r) => r.index)),
    label: runs.map((r) => r.label),
    run_id: runs.map((r) => r.runId),
    seed: runs.map((r) => r.seed),
    jitter_ms: Float64Array.from(runs.map((r) => r.jitterMs)),
    status: runs.map((r) => r.status),
    success: runs.map((r) => r.success),
    wall_ms: Float64Array.from(runs.map((r) => r.wallMs)),
    stdout: runs.map((r) => r.stdout),
    policy: runs.map((r) => r.policy),
  });
}
