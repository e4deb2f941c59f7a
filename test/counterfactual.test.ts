// Counterfactual replay: the recorded incident, edited by injections, replayed on the real binary
// with the outside world served from what production saw (docs/injections.md). Everything here
// runs real programs: the payment fixture, curl and python3 against loopback servers that are
// stopped before any replay, with the replay's network namespace switched off so that a real
// connection would be possible, and a listener on the recorded port proving none is made.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentIncident } from '../src/demo';
import { buildFixtures } from '../src/fixtures';
import { InjectionSpecError, parseInjection, parseInjectionSpec, type Injection } from '../src/inject';
import { ReplaybookError } from '../src/errors';
import { record } from '../src/record/record';
import { replay, type ReplayOptions, type RunResult } from '../src/replay/replay';
import { writtenTo } from '../src/replay/outputs';
import type { RecordBatch } from 'apache-arrow';
import { openStore, type ChdbStore } from '../src/store';
import { rows, watchPort } from './helpers/replay-check';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-cf-'));
let store: ChdbStore;
let failedPort = 0; // the provider port of the recorded timeout failure
let okPort = 0; // ... of a recorded success

const PROVIDER_ANSWER = 'payment ok: OK txn=7781 amount=19.99\n';

/** A replay at max speed, outside any network namespace, with a listener on `port`. */
async function cf(id: string, port: number, o: Partial<ReplayOptions> = {}): Promise<RunResult & { contacts: number }> {
  const trap = await watchPort(port);
  try {
    const run = await replay(id, { store, speed: 'max', ephemeral: true, isolateNetwork: false, ...o });
    return { ...run, contacts: trap.contacts() };
  } finally {
    await trap.close();
  }
}

const inj = (flag: string, spec: string): Injection[] => parseInjection(flag, spec);

beforeAll(async () => {
  await buildFixtures();
  store = await openStore(path.join(tmp, 'store'));
  failedPort = (await recordPaymentIncident(store, 'pay-timeout', { timeoutMs: 2000, providerDelayMs: 2500 })).providerPort;
  okPort = (await recordPaymentIncident(store, 'pay-ok', { timeoutMs: 2000, providerDelayMs: 300 })).providerPort;
}, 60_000);

afterAll(async () => {
  await store?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the payment incident, edited', () => {
  it('replays the baseline failure under the strict policy', async () => {
    const r = await cf('pay-timeout', failedPort);
    expect(r.stdout.toString()).toBe('payment failed: timeout\n');
    expect(r.exitCode).toBe(1);
    expect(r.policy).toBe('strict');
    expect(r.reproduced).toBe(true);
    expect(r.contacts).toBe(0);
  });

  it('turns the timeout failure into a success with a 5 s timeout: the late answer is served', async () => {
    const r = await cf('pay-timeout', failedPort, { injections: inj('--timeout', 'env:PAYMENT_TIMEOUT_MS=5000') });
    expect(r.stdout.toString()).toBe(PROVIDER_ANSWER);
    expect(r.exitCode).toBe(0);
    expect(r.policy).toBe('stream');
    expect(r.switchedAt?.reason).toMatch(/poll argument 3 differs: recorded 2000, now 5000/);
    expect(r.commandChanges).toEqual(['env PAYMENT_TIMEOUT_MS: 2000 -> 5000']);
    expect(r.unrecorded).toEqual([]);
    expect(r.contacts).toBe(0);
    // The answer arrived 2.5 s into the wait, on the virtual clock, as in production.
    const events = await rows(r.batches);
    const poll = events.find((e) => e.name === 'poll' && e.ret === 1n);
    expect(poll, 'a poll that saw the answer').toBeDefined();
    expect(Number(poll!.dur_ns) / 1e6).toBeGreaterThan(2000);
    expect(Number(poll!.dur_ns) / 1e6).toBeLessThan(5000);
  });

  it('does the same with the timeout changed on the poll syscall itself', async () => {
    const r = await cf('pay-timeout', failedPort, { injections: inj('--timeout', 'syscall:poll=5000') });
    expect(r.stdout.toString()).toBe(PROVIDER_ANSWER);
    expect(r.injectionReport).toEqual([expect.objectContaining({ kind: 'timeout', fired: 1 })]);
    expect(r.contacts).toBe(0);
  });

  it('makes a recorded success fail when the provider answers 3 s later', async () => {
    const base = await cf('pay-ok', okPort);
    expect(base.stdout.toString()).toBe(PROVIDER_ANSWER);
    const r = await cf('pay-ok', okPort, { injections: inj('--latency', 'tcp:*:*=3000000') });
    expect(r.stdout.toString()).toBe('payment failed: timeout\n');
    expect(r.exitCode).toBe(1);
    expect(r.injectionReport).toEqual([expect.objectContaining({ kind: 'latency', fired: 1 })]);
    expect(r.contacts).toBe(0);
  });

  it('shows a delay on poll in the clock the program reads afterwards', async () => {
    /** ms between the clock reads just before and just after the (first) poll. */
    const aroundPoll = async (r: RunResult): Promise<number> => {
      const events = await rows(r.batches);
      const pollAt = events.findIndex((e) => e.name === 'poll');
      const clock = (e: (typeof events)[number]): number => {
        const b = Buffer.from(e.data_out);
        return Number(b.readBigInt64LE(0)) * 1e3 + Number(b.readBigInt64LE(8)) / 1e6;
      };
      const before = events.slice(0, pollAt).filter((e) => e.name === 'clock_gettime').at(-1);
      const after = events.slice(pollAt).find((e) => e.name === 'clock_gettime');
      expect(before && after, 'clock reads around the poll').toBeTruthy();
      return clock(after!) - clock(before!);
    };
    const base = await cf('pay-timeout', failedPort);
    const delayed = await cf('pay-timeout', failedPort, { injections: inj('--inject', 'poll:delay_exit=500000') });
    expect(delayed.stdout.toString()).toBe('payment failed: timeout\n');
    // The 2 s poll timed out as recorded; the program then saw 0.5 s more go by.
    const b = await aroundPoll(base);
    const d = await aroundPoll(delayed);
    expect(b).toBeGreaterThanOrEqual(2000);
    expect(b).toBeLessThan(2100);
    expect(d).toBeGreaterThanOrEqual(2500);
    expect(d).toBeLessThan(2600);
  });

  it('takes the error path when connect fails with ECONNREFUSED', async () => {
    const r = await cf('pay-ok', okPort, { injections: inj('--inject', 'connect:error=ECONNREFUSED') });
    expect(r.stdout.toString()).toBe('payment failed: Connection refused\n');
    expect(r.exitCode).toBe(2);
    expect(r.switchedAt?.reason).toMatch(/fired at connect/);
    expect(r.contacts).toBe(0);
  });

  it('replays a rebuilt binary with a longer timeout: the fix by changing the code', async () => {
    const src = fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'payment-client.c'), 'utf8');
    const fixedSrc = src.replace('long timeout_ms = parse_timeout();', 'long timeout_ms = parse_timeout() * 3;');
    expect(fixedSrc).not.toBe(src);
    const fixed = path.join(tmp, 'payment-client-fixed');
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-x', 'c', '-o', fixed, '-'], { input: fixedSrc });
    const r = await cf('pay-timeout', failedPort, { binary: fixed });
    expect(r.stdout.toString()).toBe(PROVIDER_ANSWER);
    expect(r.exitCode).toBe(0);
    expect(r.contacts).toBe(0);
  });

  it('reports a connection to an endpoint nothing was recorded for, or refuses it', async () => {
    const moved = inj('--timeout', 'env:PAYMENT_PROVIDER=127.0.0.1:9');
    const r = await cf('pay-ok', okPort, { injections: moved });
    expect(r.unrecorded).toEqual([
      expect.objectContaining({ name: 'connect', policy: 'error', reason: 'a connection to tcp:127.0.0.1:9, which the recording never made' }),
    ]);
    expect(r.exitCode).toBeNull(); // ended there
    const refused = await cf('pay-ok', okPort, { injections: moved, unrecorded: 'refuse' });
    expect(refused.stdout.toString()).toBe('payment failed: Connection refused\n');
    expect(refused.exitCode).toBe(2);
  });

  it('varies arrival times from a seed: the same seed gives the same run', async () => {
    const fix = inj('--timeout', 'env:PAYMENT_TIMEOUT_MS=2600');
    const outcomes: string[] = [];
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const a = await cf('pay-timeout', failedPort, { injections: fix, jitter: { ms: 300, seed } });
      const b = await cf('pay-timeout', failedPort, { injections: fix, jitter: { ms: 300, seed } });
      expect(b.stdout.toString()).toBe(a.stdout.toString());
      outcomes.push(a.stdout.toString());
    }
    // 2.6 s barely covers a 2.5 s answer: with up to 300 ms more, some runs fail, some succeed.
    expect(new Set(outcomes)).toEqual(new Set([PROVIDER_ANSWER, 'payment failed: timeout\n']));
  });

  it('rejects malformed specs before anything runs, and runs random valid ones to a result', async () => {
    const names = ['read', 'write', 'poll', 'connect', 'socket', 'close', 'clock_gettime', 'getrandom', 'openat', '%network', '%file', 'all'];
    const actions = ['error=EIO', 'error=EAGAIN', 'error=ECONNRESET', 'retval=0', 'delay_enter=1000', 'delay_exit=200000', 'error=EINTR'];
    const whens = ['', ':when=1', ':when=2+', ':when=1..3', ':when=2+2'];
    let rng = 20261127;
    const pick = <T>(xs: T[]): T => {
      rng = (rng * 1103515245 + 12345) % 2 ** 31;
      return xs[rng % xs.length];
    };
    let ran = 0;
    let rejected = 0;
    for (let i = 0; i < 14; i++) {
      let spec = `${pick(names)}:${pick(actions)}${pick(whens)}`;
      if (i % 5 === 4) spec = spec.replace(/=/, '=#'); // malformed
      let injections: Injection[];
      try {
        injections = parseInjectionSpec(spec);
      } catch (e) {
        expect(e).toBeInstanceOf(InjectionSpecError);
        expect((e as Error).message).toMatch(/column \d+/);
        rejected++;
        continue;
      }
      const r = await cf('pay-ok', okPort, { injections });
      // A result: an exit, a signal, or a reported unrecorded interaction; never a hang.
      expect(r.exitCode !== null || r.signal !== null || r.unrecorded.length > 0, spec).toBe(true);
      expect(r.contacts, spec).toBe(0);
      ran++;
    }
    expect(ran).toBeGreaterThan(5);
    expect(rejected).toBeGreaterThan(0);
  }, 120_000);

  it('refuses injections this engine cannot apply, naming them, before the replay starts', async () => {
    await expect(replay('pay-ok', { store, injections: inj('--inject', 'read:signal=SIGUSR1') })).rejects.toThrow(ReplaybookError);
    await expect(replay('pay-ok', { store, injections: inj('--timeout', 'arg:--no-such-flag=5') })).rejects.toThrow(/--no-such-flag/);
  });
});

/** A loopback HTTP server that answers every request after `delayMs` and keeps reading after
 * the client's FIN (as most servers do), so that late data exists. */
async function slowServer(delayMs: number): Promise<{ port: number; stop(): Promise<void> }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    s.once('data', () => {
      setTimeout(() => {
        const body = `slow answer after ${delayMs} ms\n`;
        s.end(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        setTimeout(resolve, 6000).unref(); // lingering sockets close by themselves
      }),
  };
}

/** Records `command` against a server answering after `delayMs`, then stops the server. */
async function recordAgainst(id: string, delayMs: number, command: (port: number) => string[], env: Record<string, string> = {}): Promise<number> {
  const server = await slowServer(delayMs);
  try {
    const r = await record({ incident: id, command: command(server.port), env: { PATH: '/usr/bin:/bin', LANG: 'C', ...env }, cwd: tmp, store });
    expect(r.incident.incident_id).toBe(id);
    return server.port;
  } finally {
    await server.stop();
  }
}

describe('a timeout in a config file', () => {
  it('serves the edited file (content and size) and the service takes the longer wait', async () => {
    const exe = path.join(tmp, 'conf-client');
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-x', 'c', '-o', exe, '-'], {
      input: `#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
  (void)argc;
  struct stat st;
  if (stat(argv[1], &st) != 0) return 64;
  FILE *f = fopen(argv[1], "r");
  char line[256];
  long timeout = 1000;
  while (f && fgets(line, sizeof line, f)) if (!strncmp(line, "timeout_ms=", 11)) timeout = atol(line + 11);
  if (f) fclose(f);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)atoi(argv[2]));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) return 2;
  if (write(fd, "GET / HTTP/1.0\\r\\n\\r\\n", 18) != 18) return 3;
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, (int)timeout) <= 0) {
    printf("timeout after %ld ms (config of %lld bytes)\\n", timeout, (long long)st.st_size);
    return 1;
  }
  char buf[512];
  long n = read(fd, buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = 0;
  char *body = strstr(buf, "\\r\\n\\r\\n");
  printf("answer after waiting up to %ld ms: %s", timeout, body ? body + 4 : buf);
  return 0;
}
`,
    });
    const conf = path.join(tmp, 'app.conf');
    fs.writeFileSync(conf, '# app settings\nname=demo\ntimeout_ms=2000\nretries=3\n');
    const port = await recordAgainst('conf-timeout', 2500, (p) => [exe, conf, String(p)]);
    fs.rmSync(conf); // the replay serves it from the log
    const base = await cf('conf-timeout', port);
    expect(base.stdout.toString()).toBe('timeout after 2000 ms (config of 51 bytes)\n');
    const fixed = await cf('conf-timeout', port, { injections: inj('--timeout', `file:${conf}#timeout_ms=15000`) });
    expect(fixed.switchedAt?.reason).toBe(`the program uses ${conf}, whose content was edited`);
    expect(fixed.stdout.toString()).toBe('answer after waiting up to 15000 ms: slow answer after 2500 ms\n');
    expect(fixed.exitCode).toBe(0);
    expect(fixed.contacts).toBe(0);
    // stat saw the edited size: one byte shorter with 500.
    const shorter = await cf('conf-timeout', port, { injections: inj('--timeout', `file:${conf}#timeout_ms=500`) });
    expect(shorter.stdout.toString()).toBe('timeout after 500 ms (config of 50 bytes)\n');
    await expect(replay('conf-timeout', { store, injections: inj('--timeout', '/etc/nope.conf#timeout_ms=1'.replace(/^/, 'file:')) })).rejects.toThrow(
      /never read \/etc\/nope.conf/,
    );
  }, 60_000);
});

describe('socket and select timeouts', () => {
  it('SO_RCVTIMEO and select timeouts change like poll ones', async () => {
    const exe = path.join(tmp, 'rcv-client');
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-x', 'c', '-o', exe, '-'], {
      input: `#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) exit(2);
  if (write(fd, "GET / HTTP/1.0\\r\\n\\r\\n", 18) != 18) exit(3);
  return fd;
}
int main(int argc, char **argv) {
  (void)argc;
  int port = atoi(argv[1]);
  char buf[512];
  int fd = dial(port);
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  long n = recv(fd, buf, sizeof buf - 1, 0);
  if (n < 0) printf("recv: %s\\n", strerror(errno));
  else printf("recv: %ld bytes\\n", n);
  close(fd);
  fd = dial(port);
  fd_set r;
  FD_ZERO(&r);
  FD_SET(fd, &r);
  struct timeval st = {2, 0};
  int k = select(fd + 1, &r, NULL, NULL, &st);
  printf("select: %d\\n", k);
  return 0;
}
`,
    });
    const port = await recordAgainst('rcvtimeo', 2500, (p) => [exe, String(p)]);
    const base = await cf('rcvtimeo', port);
    expect(base.stdout.toString()).toBe('recv: Resource temporarily unavailable\nselect: 0\n');
    const rcv = await cf('rcvtimeo', port, { injections: inj('--timeout', 'syscall:SO_RCVTIMEO=5000') });
    expect(rcv.stdout.toString()).toBe('recv: 110 bytes\nselect: 0\n');
    const both = await cf('rcvtimeo', port, { injections: [...inj('--timeout', 'syscall:SO_RCVTIMEO=5000'), ...inj('--timeout', 'syscall:select=5000')] });
    expect(both.stdout.toString()).toBe('recv: 110 bytes\nselect: 1\n');
    expect(both.contacts).toBe(0);
  }, 60_000);
});

describe('third-party programs', () => {
  it('curl: a longer --max-time turns a recorded timeout into the answer; latency turns a success into a timeout', async () => {
    const url = (port: number): string => `http://127.0.0.1:${port}/`;
    const slowPort = await recordAgainst('curl-timeout', 2500, (p) => ['curl', '-sS', '--max-time', '2', url(p)]);
    const base = await cf('curl-timeout', slowPort);
    expect(base.exitCode).toBe(28);
    expect(base.stderr.toString()).toMatch(/Operation timed out/);
    const fixed = await cf('curl-timeout', slowPort, { injections: inj('--timeout', 'arg:--max-time=5') });
    expect(fixed.exitCode).toBe(0);
    expect(fixed.stdout.toString()).toBe('slow answer after 2500 ms\n');
    expect(fixed.contacts).toBe(0);

    const fastPort = await recordAgainst('curl-ok', 500, (p) => ['curl', '-sS', '--max-time', '5', url(p)]);
    expect((await cf('curl-ok', fastPort)).stdout.toString()).toBe('slow answer after 500 ms\n');
    const slowed = await cf('curl-ok', fastPort, { injections: inj('--latency', `tcp:*:${fastPort}=5000000`) });
    expect(slowed.exitCode).toBe(28);
    expect(slowed.stderr.toString()).toMatch(/Operation timed out after 5\d\d\d milliseconds/);
    expect(slowed.contacts).toBe(0);
  }, 60_000);

  it('python3: a timeout from the environment, both ways', async () => {
    const script = path.join(tmp, 'fetch.py');
    fs.writeFileSync(
      script,
      [
        'import os, sys, time, urllib.request',
        't0 = time.monotonic()',
        'try:',
        "    body = urllib.request.urlopen(sys.argv[1], timeout=float(os.environ['FETCH_TIMEOUT'])).read()",
        "    print('ok', body.decode().strip(), 'after', round(time.monotonic() - t0, 1), 's')",
        'except Exception as e:',
        "    print('failed:', type(e).__name__, e)",
        '    sys.exit(1)',
        '',
      ].join('\n'),
    );
    const cmd = (p: number): string[] => ['python3', script, `http://127.0.0.1:${p}/`];
    const slowPort = await recordAgainst('py-timeout', 2500, cmd, { FETCH_TIMEOUT: '2' });
    const base = await cf('py-timeout', slowPort);
    expect(base.stdout.toString()).toBe('failed: TimeoutError timed out\n');
    const fixed = await cf('py-timeout', slowPort, { injections: inj('--timeout', 'env:FETCH_TIMEOUT=5') });
    // Python's own clock says the answer took the recorded 2.5 s: the virtual clock, not the
    // replay's speed (the program's own work between its clock reads adds a little on a loaded machine).
    expect(fixed.stdout.toString()).toMatch(/^ok slow answer after 2500 ms after 2\.[5-7] s\n$/);
    expect(fixed.exitCode).toBe(0);
    expect(fixed.contacts).toBe(0);

    const fastPort = await recordAgainst('py-ok', 500, cmd, { FETCH_TIMEOUT: '2' });
    // The replay prints what the recorded run printed: its own clock's reading of the recorded
    // answer (0.5 s, more when the machine was loaded while recording).
    const recorded: RecordBatch[] = [];
    for await (const b of store.events('py-ok')) recorded.push(b);
    const printed = writtenTo(recorded, 'stdout').toString();
    expect(printed).toMatch(/^ok slow answer after 500 ms after 0\.\d s\n$/);
    expect((await cf('py-ok', fastPort)).stdout.toString()).toBe(printed);
    const slowed = await cf('py-ok', fastPort, { injections: inj('--latency', `tcp:*:${fastPort}=3000000`) });
    expect(slowed.stdout.toString()).toBe('failed: TimeoutError timed out\n');
    expect(slowed.exitCode).toBe(1);
  }, 60_000);
});
