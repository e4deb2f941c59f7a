// A replay run in words: what `replaybook replay` and `verify` print and what the notebook's
// display bundles say, written once. Plain text; the bundles escape it into their HTML.
import { describeInjection } from '../inject/describe';
import type { Divergence, ReplayOptions, RunResult } from './run';

/** `exit 1`, `killed by SIGKILL`. */
export function exitStatus(code: number | null, signal: string | null): string {
  if (signal) return `killed by ${signal}`;
  return code === null ? 'no exit status' : `exit ${code}`;
}

/** How a run ended: `exit 0`, `killed by SIGKILL`, `diverged at seq 12`, `stopped: unrecorded connect`. */
export function runStatus(r: Pick<RunResult, 'divergence' | 'unrecorded' | 'exitCode' | 'signal'>): string {
  if (r.divergence) return `diverged at seq ${r.divergence.seq}`;
  const stopped = r.unrecorded.find((u) => u.policy === 'error');
  if (stopped) return `stopped: unrecorded ${stopped.name}`;
  return exitStatus(r.exitCode, r.signal);
}

/** `diverged at seq 41 (tid 4243): different syscall`. */
export function divergenceLine(d: Divergence): string {
  return `diverged at seq ${d.seq} (tid ${d.tid}): ${d.reason}`;
}

export const REPRODUCED = 'reproduced: same syscalls, same output, same exit status';

/** Said when the machine's executable is not the recorded one (which ran all the same). */
export const EXE_CHANGED = 'the local executable differs from the recorded one; the recorded binary ran';

/** What differs between a run and its recording, as short phrases (empty when nothing does). */
export function runDifferences(run: RunResult): string[] {
  const out: string[] = [];
  if (run.divergence) out.push(divergenceLine(run.divergence));
  const now = exitStatus(run.exitCode, run.signal);
  const then = exitStatus(run.recorded.exitCode, run.recorded.signal);
  if (now !== then && !run.cutShort?.endedAtCut) out.push(`${now}, recorded ${then}`);
  if (!run.stdout.equals(run.recorded.stdout)) out.push('stdout differs');
  if (!run.stderr.equals(run.recorded.stderr)) out.push('stderr differs');
  return out;
}

/** The verdict line of a run: reproduced, or what differs. */
export function runVerdict(run: RunResult): string {
  if (run.reproduced) return REPRODUCED;
  const diffs = runDifferences(run);
  return `not reproduced: ${diffs.length ? diffs.join('; ') : 'the run does not match the recording'}`;
}

/** Jitter as the reports state it: `every recorded arrival up to 300 ms later`. */
export function jitterText(ms: number): string {
  return `every recorded arrival up to ${ms} ms later`;
}

/** A fix (or a batch's changes), one sentence per injection, then the rebuilt binary. */
export function fixDescription(fix: Pick<ReplayOptions, 'injections' | 'binary'>): string[] {
  const out = (fix.injections ?? []).map((i) => describeInjection(i));
  if (fix.binary !== undefined) out.push(`the rebuilt binary ${fix.binary} runs instead of the recorded one`);
  return out;
}

/** The runs of a batch by index: `runs 2, 5, 7, 9`, `run 4`. */
export function runList(indexes: number[]): string {
  return `${indexes.length === 1 ? 'run' : 'runs'} ${indexes.join(', ')}`;
}

/** What each injection did in a run, one line each. */
export function injectionLines(r: RunResult): string[] {
  return r.injections.map((i) => {
    const what = describeInjection(i);
    const rep = r.injectionReport.find((x) => x.id === i.id);
    if (rep) {
      const matched = `${rep.matched} matching call${rep.matched === 1 ? '' : 's'}`;
      if (i.kind === 'latency') return `${what}: ${rep.fired > 0 ? `${rep.fired} arrival${rep.fired === 1 ? '' : 's'} moved` : 'no data arrived from it'}`;
      return `${what}: ${rep.fired > 0 ? `fired ${rep.fired} time${rep.fired === 1 ? '' : 's'} (${matched})` : `never fired (${matched})`}`;
    }
    if (i.kind === 'timeout' && (i.target.type === 'env' || i.target.type === 'arg')) {
      const name = i.target.type === 'env' ? i.target.name : i.target.flag;
      const change = r.commandChanges.find((c) => c.includes(` ${name}:`) || c.includes(` ${name} `));
      return `${what}: applied to the command before it started${change ? ` (${change})` : ''}`;
    }
    return `${what}: the engine reported nothing for it`;
  });
}

/** A run as `replaybook replay` prints it: what ran, what changed, where it left the log, its outcome. */
export function describeRun(r: RunResult, o: Pick<ReplayOptions, 'jitter' | 'binary'> = {}): string {
  const out: string[] = [];
  const counterfactual = r.injections.length > 0 || o.binary !== undefined || o.jitter !== undefined || r.policy === 'stream';
  out.push(`run ${r.runId} of ${r.incident} (speed ${r.speed}, ${r.events} events, ${(r.wallMs / 1000).toFixed(2)} s)`);
  if (r.localExeChanged && o.binary === undefined) out.push(`note: ${EXE_CHANGED}`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  if (counterfactual) {
    if (o.binary !== undefined) out.push(`binary: ${o.binary} ran instead of the recorded executable`);
    if (o.jitter) out.push(`jitter: ${jitterText(o.jitter.ms)} (seed ${o.jitter.seed})`);
    for (const line of injectionLines(r)) out.push(`injection: ${line}`);
    out.push(
      r.switchedAt
        ? `policy: strict until seq ${r.switchedAt.seq}, then stream: ${r.switchedAt.reason}`
        : 'policy: strict to the end (nothing made the program leave the log)',
    );
  }
  for (const u of r.unrecorded) {
    out.push(`unrecorded: ${u.name} (thread ${u.tid}): ${u.reason}; ${u.policy === 'refuse' ? 'the call was refused' : 'the run was stopped there'}`);
  }
  if (r.cutShort) {
    out.push(
      `the recording was cut short (${r.cutShort.reason}): ` +
        (r.cutShort.endedAtCut ? 'the replay ran to its last event and was stopped there' : 'the replay ends where it ends'),
    );
  }
  if (r.divergence) {
    const d = r.divergence;
    // Capitals: the line a reader of a terminal must not miss.
    out.push(divergenceLine(d).replace(/^diverged/, 'DIVERGED'));
    if (d.expected) out.push(`  recorded: ${d.expected.name} ${d.expected.resource} ${JSON.stringify(d.expected.data_in.toString('utf8'))}`);
    out.push(`  program:  ${d.actual.name} ${d.actual.resource} ${JSON.stringify(d.actual.data_in.toString('utf8'))}`);
  } else {
    out.push(`program ${exitStatus(r.exitCode, r.signal)}; recorded ${exitStatus(r.recorded.exitCode, r.recorded.signal)}`);
    out.push(`stdout: ${JSON.stringify(r.stdout.toString('utf8'))}`);
    if (counterfactual) {
      out.push(r.reproduced ? 'counterfactual run: the same outcome as the recording' : 'counterfactual run: the outcome differs from the recording');
    } else {
      out.push(r.reproduced ? REPRODUCED : 'NOT reproduced: the outcome differs from the recording');
    }
  }
  return out.join('\n');
}
