// The store and the replayer against mutated input (test/helpers/store-fuzz.ts): a real incident's
// events, Arrow data and pack mutated, unpacked, replayed. Every case ends in a result or a
// structured error, none hangs, and the store's other incidents never change. A small, seeded run
// here; `npm run fuzz` runs the long one.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentIncident } from '../src/demo';
import { replay } from '../src/replay/replay';
import { openStore, type ChdbStore } from '../src/store';
import { MUTATIONS, fuzzStore } from './helpers/store-fuzz';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-fuzz-'));
let store: ChdbStore;

beforeAll(async () => {
  store = await openStore(path.join(work, 'store'), { keepOpen: true }); // one open for every case
  // The incident every mutant starts from, with a stored run: the fuzz must never change either.
  await recordPaymentIncident(store, 'fuzz-base');
  await replay('fuzz-base', { store, speed: 'max' });
});

afterAll(async () => {
  await store.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('the store and the replayer under mutated logs and packs', () => {
  it('ends every case in a result or a structured error, and changes nothing else', async () => {
    const cases = Number(process.env.REPLAYBOOK_FUZZ_CASES ?? 20);
    const r = await fuzzStore({ store, base: 'fuzz-base', seed: 20261204, cases, work, watchdogMs: 60_000 });
    process.stdout.write(
      `store fuzz: ${r.cases.length} cases in ${(r.ms / 1000).toFixed(1)} s; outcomes ${JSON.stringify(r.byOutcome)}; mutations ${JSON.stringify(r.byMutation)}\n`,
    );
    expect(r.failures.map((c) => `#${c.index} ${c.mutation} (${c.detail}): ${c.outcome}: ${c.reason}`)).toEqual([]);
    // The seed reaches every kind of mutation, and some mutants are stored and replayed.
    expect(Object.keys(r.byMutation).sort()).toEqual([...MUTATIONS].sort());
    expect((r.byOutcome.replayed ?? 0) + (r.byOutcome.diverged ?? 0) + (r.byOutcome['replay-error'] ?? 0)).toBeGreaterThan(0);
    expect(r.byOutcome.refused ?? 0).toBeGreaterThan(0);
    expect((await store.incidents()).map((i) => i.incident_id)).toEqual(['fuzz-base']);
    expect(await store.runs('fuzz-base')).toHaveLength(1);
  }, 240_000);
});
