// The main job on a fresh machine: record the canonical payment-timeout incident, replay it with
// the provider gone, show that the failure reproduces byte for byte, and chart the run.
import * as path from 'node:path';
import { Table } from 'apache-arrow';
import { buildFixtures, startProvider } from './fixtures';
import { record, type RecordOptions, type RecordResult } from './record/record';
import { replay } from './replay/replay';
import { parseInjection } from './inject/parse';
import { storeHome } from './store';
import { openEventStore } from './store/open';
import type { EventStore } from './store/types';
import { timelineSpec } from './viz/timeline';
import { writeChart } from './viz/render';

export const DEMO_TIMEOUT_MS = 2000;
export const DEMO_PROVIDER_DELAY_MS = 2500;

async function freeIncidentId(store: EventStore, base: string): Promise<string> {
  if (!(await store.incident(base))) return base;
  for (let n = 2; ; n++) if (!(await store.incident(`${base}-${n}`))) return `${base}-${n}`;
}

function say(line: string): void {
  process.stdout.write(line + '\n');
}

export interface PaymentIncidentOptions {
  /** The client's PAYMENT_TIMEOUT_MS (default 2000: the production setting). */
  timeoutMs?: number;
  /** How long the provider takes to answer (default 2500: slower than the timeout). */
  providerDelayMs?: number;
  /** The client executable (default: the built fixture). */
  exe?: string;
  /** Late data (see RecordOptions.lateData; default on): the provider's answer after the timeout. */
  lateData?: RecordOptions['lateData'];
  signal?: AbortSignal;
}

/**
 * Records the canonical incident: the payment client against a provider on loopback that
 * answers after a delay, stopped afterwards. The demo, the notebooks, the tests and the
 * benchmarks all record it this way.
 */
export async function recordPaymentIncident(
  store: EventStore,
  incident: string,
  o: PaymentIncidentOptions = {},
): Promise<RecordResult & { providerPort: number }> {
  const bin = await buildFixtures();
  const exe = o.exe ?? bin.paymentClient;
  const provider = await startProvider({ delayMs: o.providerDelayMs ?? DEMO_PROVIDER_DELAY_MS });
  try {
    const result = await record({
      incident,
      service: 'payment-client',
      command: [exe],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        PAYMENT_TIMEOUT_MS: String(o.timeoutMs ?? DEMO_TIMEOUT_MS),
        PAYMENT_PROVIDER: `127.0.0.1:${provider.port}`,
      },
      cwd: path.dirname(exe),
      store,
      lateData: o.lateData,
      signal: o.signal,
    });
    return { ...result, providerPort: provider.port };
  } finally {
    await provider.stop();
  }
}

export async function runDemo(o: { signal?: AbortSignal } = {}): Promise<number> {
  const home = storeHome();
  say(`replaybook demo — store: ${home}`);
  say('building the fixture services (payment-client, provider) if needed...');
  const store = await openEventStore({ home });
  try {
    const incident = await freeIncidentId(store, 'payment-timeout');
    say(`production: the provider answers after ${DEMO_PROVIDER_DELAY_MS} ms; the client gives up after ${DEMO_TIMEOUT_MS} ms`);
    say(`recording incident '${incident}'...`);
    const rec = await recordPaymentIncident(store, incident, { signal: o.signal });
    const info = rec.incident;
    say(`  recorded ${info.event_count} events; production exited ${info.exit_code ?? info.exit_signal}`);
    say('the provider is stopped. Replaying the incident from its log at production speed...');
    const run = await replay(incident, { store, speed: 1, signal: o.signal });
    const prodOut = run.recorded.stdout.toString('utf8').trim();
    const runOut = run.stdout.toString('utf8').trim();
    say(`  production printed: ${JSON.stringify(prodOut)} (exit ${run.recorded.exitCode})`);
    say(`  the replay printed: ${JSON.stringify(runOut)} (exit ${run.exitCode})`);
    if (run.reproduced) {
      say(`Production failed, and the replay reproduced the same failure byte for byte: ${run.events} events served from the log, the same syscalls in the same order, the same output and exit status, with no provider running.`);
    } else {
      say(`The replay did NOT reproduce the incident${run.divergence ? `: diverged at seq ${run.divergence.seq}: ${run.divergence.reason}` : ''}.`);
    }
    const spec = timelineSpec(new Table(run.batches), { title: `${incident} — replay ${run.runId}` });
    const chart = await writeChart(spec, path.join(home, 'charts', `${incident}-${run.runId}`));
    say(`timeline chart: ${chart.pngPath}`);
    say(`  vega-lite spec: ${chart.specPath}`);
    // The counterfactual: the same incident with the timeout the fix would set.
    const fixSpec = 'env:PAYMENT_TIMEOUT_MS=5000';
    say(`what if the timeout were 5 s? Replaying with --timeout ${fixSpec} (the provider is still stopped)...`);
    const fixed = await replay(incident, { store, speed: 'max', signal: o.signal, injections: parseInjection('--timeout', fixSpec) });
    const fixedOut = fixed.stdout.toString('utf8').trim();
    say(`  the replay printed: ${JSON.stringify(fixedOut)} (exit ${fixed.exitCode}); ${fixed.switchedAt ? `it followed the log until seq ${fixed.switchedAt.seq}, then the stream policy served what production saw` : 'it followed the log throughout'}`);
    const fixWorks = fixed.exitCode === 0;
    say(
      fixWorks
        ? 'With a 5 s timeout the client gets the provider\'s real answer, which arrived 2.5 s after the request and was kept by the recorder after the client gave up.'
        : 'The 5 s timeout did not make the replay succeed.',
    );
    say(`next: replaybook verify ${incident} --timeout ${fixSpec} --runs 10    (or: replaybook replay ${incident} --speed max)`);
    return run.reproduced && fixWorks ? 0 : 1;
  } finally {
    await store.close();
  }
}
