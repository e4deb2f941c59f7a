// The runs an incident's replays left in the store, as a notebook lists them: who changed what
// (the injections, with the labels analysts gave them), the jitter seed, the outcome. A colleague
// who unpacked the incident's pack sees the same list.
import type { RunInfo } from '../events/schema';
import { describeInjection } from '../inject/describe';
import { exitStatus } from '../replay/describe';
import type { Injection } from '../inject/types';

/** One stored run, as plain data. */
export interface StoredRun {
  incident: string;
  runId: string;
  startedAt: Date;
  /** `1`, `10`, `max`. */
  speed: string;
  /** The jitter seed the run was given (0: none). */
  seed: number;
  injections: Injection[];
  /** The analysts' labels of its injections, else their specs; `replay` for a plain replay. */
  label: string;
  /** One sentence per injection. */
  changes: string[];
  exitCode: number | null;
  signal: string | null;
  /** `exit 1`, `killed by SIGKILL`, `diverged at seq 34`. */
  outcome: string;
  /** The seq where it diverged from the log, if it did. */
  divergedAt: number | null;
  events: number;
  wallMs: number;
  stdout: string;
  stderr: string;
}

const decoder = new TextDecoder();

function parseInjections(json: string): Injection[] {
  if (!json) return [];
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) ? (v as Injection[]) : [];
  } catch {
    return [];
  }
}

/** A label for a set of injections: their labels where given, else their specs without the flag. */
export function injectionsLabel(injections: readonly Injection[]): string {
  if (injections.length === 0) return 'replay';
  return injections
    .map((i) => {
      const label = (i as { label?: unknown }).label;
      if (typeof label === 'string' && label) return label;
      const spec = (i as { spec?: unknown }).spec;
      return typeof spec === 'string' ? spec.replace(/^--(timeout|inject|latency|fault)[ =]/, '$1 ') : i.kind;
    })
    .join(' + ');
}

function describe(i: Injection): string {
  try {
    return describeInjection(i);
  } catch {
    return JSON.stringify(i);
  }
}

/** A row of the runs table as a StoredRun. */
export function storedRun(info: RunInfo): StoredRun {
  const injections = parseInjections(info.injections);
  let divergedAt: number | null = null;
  if (info.divergence) {
    try {
      const d = JSON.parse(info.divergence) as { seq?: unknown };
      divergedAt = d.seq === undefined ? null : Number(d.seq);
    } catch {
      divergedAt = null;
    }
  }
  const outcome =
    divergedAt !== null ? `diverged at seq ${divergedAt}` : exitStatus(info.exit_code, info.exit_signal);
  return {
    incident: info.incident_id,
    runId: info.run_id,
    startedAt: new Date(Number(info.started_at_ns / 1_000_000n)),
    speed: info.speed,
    seed: Number(info.seed),
    injections,
    // The name the analyst gave the run, else what was changed.
    label: info.label || injectionsLabel(injections) + (Number(info.seed) ? ` · jitter seed ${info.seed}` : ''),
    changes: injections.map(describe),
    exitCode: info.exit_code,
    signal: info.exit_signal,
    outcome,
    divergedAt,
    events: Number(info.event_count),
    wallMs: Number(info.wall_ns) / 1e6,
    stdout: decoder.decode(info.stdout),
    stderr: decoder.decode(info.stderr),
  };
}
