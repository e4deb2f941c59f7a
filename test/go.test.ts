// Go: a net/http server built here with Debian's Go toolchain, statically linked (CGO off) and
// dynamically linked against libc (CGO on: net's cgo resolver, the ELF interpreter, libc's own
// threads' setup), recorded while a client makes three requests, then replayed twice with the
// client gone. Go's
// runtime seeds its random numbers (which decide scheduling paths) from AT_RANDOM and from the
// time-stamp counter: both are part of the recording, on any machine (native/tsc.h).
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record } from '../src/record/record';
import { openStore, type ChdbStore } from '../src/store';
import { replayAndCompare, rows } from './helpers/replay-check';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-go-'));
let store: ChdbStore;

/** One request with curl, as an operator drives a service (a new connection each time). */
function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '10', '--retry', '3', '--retry-all-errors', '--retry-delay', '0', url], (err, out) =>
      err ? reject(err) : resolve(out),
    );
  });
}

beforeAll(async () => {
  store = await openStore(path.join(tmp, 'store'));
});

afterAll(async () => {
  await store?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('a Go service', () => {
  it.each([
    ['0', 'statically linked'],
    ['1', 'dynamically linked'],
  ] as const)('records a net/http server (CGO_ENABLED=%s, %s) under load and replays it twice the same way', async (cgo, linked) => {
    const incident = `go-http-cgo${cgo}`;
    const exe = path.join(tmp, `http-server-cgo${cgo}`);
    execFileSync('go', ['build', '-o', exe, path.join(__dirname, 'fixtures', 'go', 'http-server.go')], {
      env: { ...process.env, CGO_ENABLED: cgo, GOCACHE: path.join(tmp, 'gocache'), HOME: tmp, GOFLAGS: '-mod=mod', GO111MODULE: 'off' },
      stdio: 'pipe',
    });
    expect(execFileSync('file', ['-b', exe]).toString()).toContain(linked);
    const addrFile = path.join(tmp, `addr-cgo${cgo}`);
    const started = Date.now();
    const recording = record({ incident, command: [exe, addrFile], store, lateData: false });
    let addr = '';
    for (let i = 0; i < 100 && !addr; i++) {
      await new Promise((r) => setTimeout(r, 100));
      if (fs.existsSync(addrFile)) addr = fs.readFileSync(addrFile, 'utf8');
    }
    expect(addr).toMatch(/^127\.0\.0\.1:\d+$/);
    const answers: string[] = [];
    try {
      for (const p of ['/a', '/b', '/c']) answers.push(await get(`http://${addr}${p}`));
    } finally {
      if (answers.length < 3) recording.catch(() => undefined); // its failure is this test's, not unhandled
    }
    expect(answers).toEqual(['hello 1 /a\n', 'hello 2 /b\n', 'hello 3 /c\n']);
    const rec = await recording;
    const recordMs = Date.now() - started;
    expect(rec.incident.exit_code).toBe(0);
    const recorded = await rows(store.events(incident));
    // The counter reads of Go's runtime are in the log, whatever the machine.
    expect(recorded.some((e) => e.kind === 'instruction')).toBe(true);

    const first = await replayAndCompare(incident, store, recorded);
    const second = await replayAndCompare(incident, store, recorded);
    console.log(`${incident}: ${recorded.length} events, recorded in ${recordMs} ms; replays ${first.run.wallMs.toFixed(0)} ms, ${second.run.wallMs.toFixed(0)} ms at --speed max`);
    for (const r of [first, second]) {
      expect(r.run.divergence, r.run.divergence?.reason).toBeNull();
      expect(r.run.exitCode).toBe(0);
      expect(r.run.stdout.toString()).toBe(r.run.recorded.stdout.toString());
      expect(r.sequenceDiff).toBeNull();
    }
    expect(second.replayedSequence).toEqual(first.replayedSequence);
    expect(first.run.stdout.toString()).toContain('served 3');
  });
});
