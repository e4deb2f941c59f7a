// Moving an incident between stores (machines): pack it with its runs and files, unpack it into
// another store, replay it there.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentIncident } from '../src/demo';
import { parseInjection } from '../src/inject';
import { replay } from '../src/replay/replay';
import { openStore, type ChdbStore } from '../src/store';
import { runProcess } from './helpers/run';
import { editJson, readPack, writePack, type Section } from './helpers/pack-file';
import { packIncident } from '../src/store/pack';
import { Table, Utf8, tableFromIPC, tableToIPC, vectorFromArray, type Vector } from 'apache-arrow';

const CLI = path.join(__dirname, '..', 'bin', 'replaybook.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-pack-'));
const homeA = path.join(work, 'a');
const homeB = path.join(work, 'b');
let store: ChdbStore;

const cli = (home: string, args: string[]) => runProcess(process.execPath, [CLI, ...args], { ...process.env, REPLAYBOOK_HOME: home });

beforeAll(async () => {
  store = await openStore(homeA);
  await recordPaymentIncident(store, 'pay');
  await replay('pay', { store, speed: 'max' }); // a stored run travels with the incident
  // ...and a labelled counterfactual one, which a colleague lists by its name after unpacking.
  await replay('pay', { store, speed: 'max', label: 'timeout 5 s', injections: parseInjection('--timeout', 'env:PAYMENT_TIMEOUT_MS=5000') });
});

afterAll(async () => {
  await store.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('pack and unpack', () => {
  it('carries an incident with its runs and files to another store, where it replays', async () => {
    const file = path.join(work, 'pay.rbpack');
    const packed = await cli(homeA, ['pack', 'pay', '--out', file]);
    expect(packed.stderr).toBe('');
    expect(packed.code).toBe(0);
    expect(packed.stdout).toMatch(/^packed incident 'pay' \(\d+ events, 2 runs, [3-9] files\) into /);

    const unpacked = await cli(homeB, ['unpack', file]);
    expect(unpacked.stderr).toBe('');
    expect(unpacked.code).toBe(0);
    expect(unpacked.stdout).toContain("unpacked incident 'pay'");
    expect(unpacked.stdout).toContain('2 runs,');
    const other = await openStore(homeB);
    try {
      const runs = await other.runs('pay');
      expect(runs.map((x) => x.label)).toEqual(['', 'timeout 5 s']);
      expect(JSON.parse(runs[1].injections)).toEqual(parseInjection('--timeout', 'env:PAYMENT_TIMEOUT_MS=5000'));
      expect(Buffer.from(runs[1].stdout).toString()).toBe('payment ok: OK txn=7781 amount=19.99\n');
    } finally {
      await other.close();
    }

    const r = await cli(homeB, ['replay', 'pay', '--speed', 'max', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { reproduced: boolean; stdout: string };
    expect(out).toMatchObject({ reproduced: true, stdout: 'payment failed: timeout\n' });
  });

  it('refuses a damaged pack with a clear error and stores nothing', async () => {
    const file = path.join(work, 'pay.rbpack');
    const bad = path.join(work, 'bad.rbpack');
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(bad, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const homeC = path.join(work, 'c');
    const r = await cli(homeC, ['unpack', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^replaybook: .*bad\.rbpack is not a readable replaybook pack: /);
    const list = await cli(homeC, ['incidents', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });
});

describe('an untrusted pack', () => {
  // A colleague's pack, then edited the way a hostile or broken one could be.
  const good = path.join(work, 'good.rbpack');
  const homeD = path.join(work, 'd');
  let n = 0;
  const variant = (edit: (s: Section[]) => Section[]): string => {
    const f = path.join(work, `variant-${++n}.rbpack`);
    writePack(f, edit(readPack(good)));
    return f;
  };
  const incidentIds = async (home: string): Promise<string[]> => {
    const r = await cli(home, ['incidents', '--json']);
    return (JSON.parse(r.stdout) as Array<{ incident_id: string }>).map((i) => i.incident_id).sort();
  };
  const runsOf = async (home: string, id: string): Promise<string[]> => {
    const s = await openStore(home);
    try {
      return (await s.runs(id)).map((r) => `${r.run_id}:${r.event_count}`).sort();
    } finally {
      await s.close();
    }
  };

  beforeAll(async () => {
    await packIncident(store, 'pay', good);
    // The store it is unpacked into already has an incident 'base1' with runs.
    const base = path.join(work, 'base1.rbpack');
    writePack(
      base,
      readPack(good).map(([name, data]): Section =>
        name === 'incident.json'
          ? [name, editJson(data, (o) => (o.incident_id = 'base1'))]
          : name.startsWith('run/')
            ? [name, editJson(data, (o) => (o.incident_id = 'base1'))]
            : name.startsWith('events/')
              ? [name, relabelEvents(data, 'base1')]
              : [name, data],
      ),
    );
    const r = await cli(homeD, ['unpack', base]);
    expect(r.stderr).toBe('');
  });

  it('refuses a run that names another incident, and leaves that incident alone', async () => {
    const before = await runsOf(homeD, 'base1');
    const f = variant((s) => s.map(([name, data]) => [name, name.startsWith('run/') ? editJson(data, (o) => (o.incident_id = 'base1')) : data]));
    const r = await cli(homeD, ['unpack', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^replaybook: .* names incident 'base1', not the pack's incident 'pay': a pack holds one incident\n$/);
    expect(await runsOf(homeD, 'base1')).toEqual(before);
    expect(await incidentIds(homeD)).toEqual(['base1']);
  });

  it('refuses events whose rows name another incident', async () => {
    const f = variant((s) => s.map(([name, data]) => [name, name === 'events/recording' ? relabelEvents(data, 'base1') : data]));
    const r = await cli(homeD, ['unpack', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the events of the recording are malformed: row 0 has incident_id "base1", not "pay"/);
    expect(await incidentIds(homeD)).toEqual(['base1']);
  });

  it.each([
    ["x' OR 1=1 --", /has a character other than/],
    ['../../../tmp/x', /has a character other than/],
    ['--help2', /starts with '-'/],
    ['A'.repeat(10_000), /has 10000 characters \(at most 128\)/],
  ].map(([id, why]) => [typeof id === 'string' && id.length > 40 ? `of ${id.length} characters` : id, id, why] as const))(
    'refuses the incident id %s with the rule record follows',
    async (_shown, id, why) => {
    const f = variant((s) => s.map(([name, data]) => [name, name === 'incident.json' || name.startsWith('run/') ? editJson(data, (o) => (o.incident_id = id)) : data]));
    const r = await cli(homeD, ['unpack', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(why);
    expect(r.stderr.length).toBeLessThan(400); // a long id is cut, not echoed
    expect(await incidentIds(homeD)).toEqual(['base1']);
    },
  );

  it('stops decompressing at the size limit, which a flag raises', async () => {
    // 64 MiB of zeros compress to about 64 KiB.
    const bomb = path.join(work, 'bomb.rbpack');
    const sections = readPack(good);
    sections.push(['blob/' + '0'.repeat(64), Buffer.alloc(64 * 1024 * 1024)]);
    writePack(bomb, sections);
    const r = await cli(homeD, ['unpack', bomb, '--max-unpacked-bytes', '16000000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/expands to more than 16000000 bytes .*--max-unpacked-bytes N\n$/);
    // Within a raised limit it is read whole, then refused for what it holds.
    const raised = await cli(homeD, ['unpack', bomb, '--max-unpacked-bytes', String(256 * 1024 * 1024)]);
    expect(raised.stderr).toMatch(/blob 0{64} does not match its sha256/);
    expect(await incidentIds(homeD)).toEqual(['base1']);
    expect((await cli(homeD, ['unpack', bomb, '--max-unpacked-bytes', '1e9'])).code).toBe(2);
  });

  it('refuses unknown, duplicated and orphan sections', async () => {
    const cases: Array<[(s: Section[]) => Section[], RegExp]> = [
      [(s) => [...s, ['../../etc/passwd', Buffer.from('x')]], /unknown section "..\/..\/etc\/passwd"/],
      [(s) => [...s, s.find(([name]) => name === 'incident.json')!], /holds two incidents/],
      [(s) => [...s, ['events/run-orphan', Buffer.alloc(0)]], /events of run 'run-orphan' but no such run/],
      [(s) => s.map(([name, data]) => [name, name === 'events/recording' ? data.subarray(0, data.length >> 1) : data]), /the events of the recording are/],
    ];
    for (const [edit, why] of cases) {
      const r = await cli(homeD, ['unpack', variant(edit)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(why);
    }
    expect(await incidentIds(homeD)).toEqual(['base1']);
  });
});

/** An events section whose rows say they belong to incident `id`. */
function relabelEvents(data: Buffer, id: string): Buffer {
  if (data.length === 0) return data;
  const table = tableFromIPC(data);
  const n = table.numRows;
  const cols: Record<string, Vector> = {};
  for (const f of table.schema.fields) cols[f.name] = table.getChild(f.name)!;
  cols.incident_id = vectorFromArray(Array.from({ length: n }, () => id), new Utf8());
  return Buffer.from(tableToIPC(new Table(cols), 'stream'));
}
