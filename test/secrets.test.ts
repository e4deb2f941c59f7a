// Secrets never reach the store: a service that authenticates with a token from its environment
// is recorded, and the token is found nowhere (events of the recording and of its replays, the
// incident row, a pack); the replay, given the placeholder, reproduces. A service that encodes its
// token diverges, and the divergence names the rule. The store and packs are for their owner only.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record } from '../src/record/record';
import { parseRedactRule, redactRules } from '../src/record/redact';
import { replay } from '../src/replay/replay';
import { openStore, type ChdbStore } from '../src/store';
import { packIncident } from '../src/store/pack';
import type { EventRow } from '../src/events/schema';
import { rows } from './helpers/replay-check';
import { record as notebookRecord } from '../src/notebook';
import { runProcess } from './helpers/run';

const CLI = path.join(__dirname, '..', 'bin', 'replaybook.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-secrets-'));
const home = path.join(tmp, 'store');
const TOKEN = 'tok-live-7f3a9c1e5b2d4f60';
const AWS = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY';
let store: ChdbStore;
let client = '';

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: '/usr/bin:/bin', API_TOKEN: TOKEN, AWS_SECRET_ACCESS_KEY: AWS, GREETING: 'hello', ...extra };
}

/** Every byte a run's events hold, with where it is. */
function byteCells(events: EventRow[]): [string, Buffer][] {
  return events.flatMap((e) => [
    [`${e.seq} data_in`, Buffer.from(e.data_in)],
    [`${e.seq} data_out`, Buffer.from(e.data_out)],
    [`${e.seq} resource`, Buffer.from(e.resource)],
    [`${e.seq} name`, Buffer.from(e.name)],
  ]);
}

function holding(events: EventRow[], secret: string): string[] {
  return byteCells(events)
    .filter(([, b]) => b.includes(secret))
    .map(([where]) => where);
}

beforeAll(async () => {
  client = path.join(tmp, 'token-client');
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', client, path.join(__dirname, 'fixtures', 'token-client.c')]);
  store = await openStore(home);
});

afterAll(async () => {
  await store?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('redaction at record time', () => {
  it('keeps a token passed through to an Authorization header out of the store, and the replay reproduces', async () => {
    const res = await record({ incident: 'tok-plain', command: [client, 'plain'], env: env(), store });
    expect(res.incident.exit_code).toBe(0);

    const info = await store.incident('tok-plain');
    expect(info).not.toBeNull();
    const row = JSON.stringify(info, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    expect(row).not.toContain(TOKEN);
    expect(row).not.toContain(AWS);
    // Same-length placeholders; other variables untouched.
    expect(info!.env).toContain(`API_TOKEN=${'*'.repeat(TOKEN.length)}`);
    expect(info!.env).toContain(`AWS_SECRET_ACCESS_KEY=${'*'.repeat(AWS.length)}`);
    expect(info!.env).toContain('GREETING=hello');
    const applied = info!.redaction!.applied;
    expect(applied.find((a) => a.rule === 'env:*TOKEN*')).toMatchObject({ names: ['API_TOKEN'], inCommand: true });
    expect(applied.find((a) => a.rule === 'env:*SECRET*')?.names).toEqual(['AWS_SECRET_ACCESS_KEY']);
    const header = applied.find((a) => a.rule === 'header:Authorization');
    expect(header?.names).toEqual(['Authorization']);
    // The header's write is listed among the redacted events, with the token's byte range.
    const tokenRule = applied.find((a) => a.rule === 'env:*TOKEN*')!;
    const events = await rows(store.events('tok-plain'));
    const write = events.find((e) => e.name === 'write' && e.resource === 'stdout')!;
    const text = Buffer.from(write.data_in).toString();
    expect(text).toContain(`Authorization: Bearer ${'*'.repeat(TOKEN.length)}\r\n`);
    expect(tokenRule.events).toContainEqual({ seq: Number(write.seq), column: 'data_in', ranges: [[text.indexOf('*'), TOKEN.length]] });

    // No byte column of the recording holds either secret.
    expect(holding(events, TOKEN)).toEqual([]);
    expect(holding(events, AWS)).toEqual([]);

    const run = await replay('tok-plain', { store, speed: 'max' });
    expect(run.divergence).toBeNull();
    expect(run.reproduced).toBe(true);
    expect(run.stdout.toString()).toContain(`Bearer ${'*'.repeat(TOKEN.length)}`);
    const stored = await rows(store.events('tok-plain', run.runId));
    expect(stored.length).toBeGreaterThan(0);
    expect(holding(stored, TOKEN)).toEqual([]);

    // A pack holds the incident, its runs and files: not the token either.
    const pack = path.join(tmp, 'tok-plain.rbpack');
    await packIncident(store, 'tok-plain', pack);
    const unpacked = zlib.gunzipSync(fs.readFileSync(pack));
    expect(unpacked.includes(TOKEN)).toBe(false);
    expect(unpacked.includes(AWS)).toBe(false);
    expect(fs.statSync(pack).mode & 0o777).toBe(0o600);
  });

  it('without the default rules the token is stored as it was (what the rules remove)', async () => {
    await record({ incident: 'tok-raw', command: [client, 'plain'], env: env(), store, defaultRedact: false });
    const info = await store.incident('tok-raw');
    expect(info!.env).toContain(`API_TOKEN=${TOKEN}`);
    expect(holding(await rows(store.events('tok-raw')), TOKEN).length).toBeGreaterThan(0);
  });

  it('a service that encodes its token diverges in replay, and the divergence names the rule', async () => {
    await record({ incident: 'tok-b64', command: [client, 'base64'], env: env(), store });
    const recorded = await rows(store.events('tok-b64'));
    const b64 = Buffer.from(TOKEN).toString('base64');
    // The encoded credential is an Authorization header value: redacted as well.
    expect(holding(recorded, b64)).toEqual([]);
    expect(holding(recorded, TOKEN)).toEqual([]);

    const run = await replay('tok-b64', { store, speed: 'max' });
    expect(run.reproduced).toBe(false);
    expect(run.divergence).not.toBeNull();
    expect(run.divergence!.actual.name).toBe('write');
    expect(run.divergence!.redaction).toContain('env:*TOKEN* (API_TOKEN)');
    expect(run.divergence!.reason).toMatch(/redacted before this point \(.*env:\*TOKEN\* \(API_TOKEN\)/);
    const runs = await store.runs('tok-b64');
    expect(runs[runs.length - 1].divergence).toContain('env:*TOKEN* (API_TOKEN)');
  });

  it('--redact bytes:TEXT and --redact-file keep a value and a key file out; replay needs the real file', async () => {
    const key = path.join(tmp, 'service.key');
    const KEY = '-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----\n';
    fs.writeFileSync(key, KEY);
    const cliEnv = { ...process.env, ...env({ API_TOKEN: 'ORDER-7731-tok' }), REPLAYBOOK_HOME: home };
    await store.close(); // the CLI opens the store itself
    try {
      const rec = await runProcess(
        process.execPath,
        [CLI, 'record', '--incident', 'tok-file', '--no-default-redact', '--redact', 'bytes:ORDER-7731', '--redact-file', key, '--', client, 'plain', key],
        cliEnv,
      );
      expect(rec.code, rec.stderr).toBe(0);
      const list = await runProcess(process.execPath, [CLI, 'incidents', '--json'], cliEnv);
      const incident = (JSON.parse(list.stdout) as { incident_id: string; redaction?: { rules: string[]; files: { path: string }[] } }[]).find(
        (i) => i.incident_id === 'tok-file',
      );
      expect(incident?.redaction?.rules).toEqual(['bytes:ORDER-7731', `file:${key}`]);
      expect(incident?.redaction?.files.map((f) => f.path)).toEqual([key]);
      expect(list.stdout).not.toContain('ORDER-7731-tok');
      expect(list.stdout).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');

      const bad = await runProcess(process.execPath, [CLI, 'record', '--incident', 'x', '--redact', 'pattern:foo', '--', client, 'plain'], cliEnv);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain("redaction rule 'pattern:foo' has no known kind");
    } finally {
      store = await openStore(home);
    }
    const events = await rows(store.events('tok-file'));
    expect(holding(events, 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC')).toEqual([]);
    expect(holding(events, 'ORDER-7731')).toEqual([]);
    // The read of the key file is there, with placeholders of the key's length.
    const read = events.find((e) => e.name === 'read' && e.resource === `file:${key}`)!;
    expect(Buffer.from(read.data_out).toString()).toBe('*'.repeat(KEY.length));

    const run = await replay('tok-file', { store, speed: 'max' });
    expect(run.divergence).toBeNull();
    expect(run.reproduced).toBe(true);
    expect(holding(await rows(store.events('tok-file', run.runId)), 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC')).toEqual([]);

    fs.writeFileSync(key, KEY.replace('MIIE', 'XXXX'));
    await expect(replay('tok-file', { store, speed: 'max' })).rejects.toThrow(/kept out of the store \(--redact-file\): the file here differs/);
    fs.rmSync(key);
    await expect(replay('tok-file', { store, speed: 'max' })).rejects.toThrow(/needs that file here, and it is missing/);
  });

  it('the notebook record() takes the same rules', async () => {
    process.env.REPLAYBOOK_HOME = home;
    const incident = await notebookRecord({
      incident: 'tok-notebook',
      command: [client, 'plain'],
      env: env({ API_TOKEN: 'nb-7731-token' }),
      defaultRedact: false,
      redact: ['bytes:nb-7731'],
    });
    expect(incident.info.redaction?.rules).toEqual(['bytes:nb-7731']);
    expect(incident.info.env).toContain('API_TOKEN=*******-token');
    expect(holding(await rows(store.events('tok-notebook')), 'nb-7731')).toEqual([]);
  });

  it('parses rules and refuses bad ones with one line', () => {
    expect(parseRedactRule('env:DB_*')).toEqual({ kind: 'env', pattern: 'DB_*' });
    expect(parseRedactRule('header:X-Session')).toEqual({ kind: 'header', name: 'X-Session' });
    expect(parseRedactRule('bytes:hunter22')).toEqual({ kind: 'bytes', text: 'hunter22' });
    expect(() => parseRedactRule('bytes:ab')).toThrow(/shorter than 4 bytes/);
    expect(() => parseRedactRule('header:Bad Name')).toThrow(/not an HTTP header name/);
    expect(redactRules({ defaultRedact: false, redact: ['env:X*'] })).toEqual([{ kind: 'env', pattern: 'X*' }]);
    expect(redactRules({}).length).toBeGreaterThan(5);
  });
});

describe('the store is for its owner only', () => {
  it('the store directory is 0700 and every file under it has no group or other permission', async () => {
    // Opening and writing have happened above (recordings, runs, blobs, chDB's own files).
    expect(fs.statSync(home).mode & 0o777).toBe(0o700);
    const open: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isSymbolicLink()) continue;
        if (fs.lstatSync(p).mode & 0o077) open.push(`${(fs.lstatSync(p).mode & 0o777).toString(8)} ${p}`);
        if (e.isDirectory()) walk(p);
      }
    };
    walk(home);
    expect(open).toEqual([]);
  });

  it('an existing store readable by others is made private when opened', async () => {
    const old = path.join(tmp, 'old-store');
    fs.mkdirSync(path.join(old, 'notes'), { recursive: true, mode: 0o755 });
    fs.chmodSync(old, 0o755);
    fs.writeFileSync(path.join(old, 'notes', 'note'), 'x', { mode: 0o644 });
    const s = await openStore(old);
    try {
      await s.incidents();
    } finally {
      await s.close();
    }
    expect(fs.statSync(old).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(old, 'notes', 'note')).mode & 0o777).toBe(0o600);
  });
});

describe('address randomization when recording', () => {
  const ADDR_NO_RANDOMIZE = 0x0040000;
  const cat = fs.existsSync('/bin/cat') ? '/bin/cat' : '/usr/bin/cat';
  /** The personality the recorded cat read from /proc/self/personality. */
  async function recordedPersonality(incident: string): Promise<number> {
    const events = await rows(store.events(incident));
    const read = events.find((e) => e.name === 'read' && /^file:\/proc\/(self|\d+)\/personality$/.test(e.resource) && e.data_out.length > 0);
    expect(read).toBeDefined();
    return Number.parseInt(Buffer.from(read!.data_out).toString().trim(), 16);
  }

  it('is off by default (ADDR_NO_RANDOMIZE, as replays run), and the incident says so', async () => {
    await record({ incident: 'aslr-off', command: [cat, '/proc/self/personality'], env: { PATH: '/usr/bin:/bin' }, store });
    expect((await recordedPersonality('aslr-off')) & ADDR_NO_RANDOMIZE).toBe(ADDR_NO_RANDOMIZE);
    expect((await store.incident('aslr-off'))?.aslr).toBe(false);
  });

  it('stays on with aslr: true (no ADDR_NO_RANDOMIZE in the recorded personality), and the incident says whether it ran randomized', async () => {
    await record({ incident: 'aslr-on', command: [cat, '/proc/self/personality'], env: { PATH: '/usr/bin:/bin' }, store, aslr: true });
    const own = Number.parseInt(fs.readFileSync('/proc/self/personality', 'utf8').trim(), 16);
    expect((await recordedPersonality('aslr-on')) & ADDR_NO_RANDOMIZE).toBe(own & ADDR_NO_RANDOMIZE);
    // Randomized unless this process already runs without it or the kernel randomizes nothing.
    const kernel = fs.readFileSync('/proc/sys/kernel/randomize_va_space', 'utf8').trim();
    expect((await store.incident('aslr-on'))?.aslr).toBe((own & ADDR_NO_RANDOMIZE) === 0 && kernel !== '0');
  });
});
