// The corpus: real programs nobody here wrote, recorded and replayed on inputs this test makes.
// A program passes when its replay prints the same stdout, exits the same and makes the same
// syscalls (names, resources, return values, bytes in and out) with none of its inputs left on
// disk and, for the HTTP clients, no server reachable. A program that hits a limit the README
// names must show exactly that limit, never pass silently: node's replay may stop where a thread
// is held while another waits for it. A shell pipeline records and replays as one incident.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type ChdbStore } from '../src/store';
import type { EventRow } from '../src/events/schema';
import { recordOnly, replayAndCompare, watchPort } from './helpers/replay-check';

const execFileP = promisify(execFile);

/** README, Limits: a thread that spins in userspace waiting for another gets no turn. */
const SPINNING_THREAD =
  /^thread \d+ did not reach its next recorded syscall \(\w+, seq \d+\) in time: it may be spinning in userspace on something a held thread owns, which syscall replay cannot reproduce$/;

interface Run {
  command: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** false: recorded with fixed addresses (record --no-aslr). */
  aslr?: boolean;
}

interface Program {
  name: string;
  /** Creates the program's inputs under `dir` and says how to run it. */
  setup(dir: string, url: string): Run;
  /** What the recorded stdout must say (proves the recording did the real work). */
  check(stdout: Buffer): void;
  /** Talks to the loopback HTTP server, which is stopped before replay. */
  http?: boolean;
  /** The named limit the program hits today: the test asserts this exact refusal. */
  limit?: { name: string; message: string };
  /**
   * A limit the README names that the replay may hit on this program: it either replays fully or
   * diverges with exactly this reason after serving a prefix of the recording (the test says which).
   */
  replayLimit?: { name: string; reason: RegExp };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-corpus-'));
let store: ChdbStore;
const passed: string[] = [];
const limited: string[] = [];

/** Deterministic bytes (xorshift), so inputs are the same on every machine. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** 96 KiB of text (it goes to the test's own stdout while recording), in many reads. */
const HTTP_BODY = Buffer.from(
  Array.from({ length: 1536 }, (_, i) => `${String(i).padStart(4, '0')} ${bytes(29, i + 1).toString('hex')}\n`).join(''),
);

/** Every byte value once, NUL and invalid UTF-8 included. */
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

const WORDS = (() => {
  const syll = ['ka', 'lo', 'mi', 'zu', 're', 'pa', 'no', 'ti', 'xe', 'qu'];
  const r = bytes(4000, 11);
  return Array.from({ length: 1500 }, (_, i) => syll[r[2 * i] % 10] + syll[r[2 * i + 1] % 10] + String(r[i + 3000] % 97));
})();

function env(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  const home = path.join(dir, 'home');
  fs.mkdirSync(home, { recursive: true });
  return { PATH: '/usr/bin:/bin', HOME: home, LANG: 'C', LC_ALL: 'C', TZ: 'UTC', ...extra };
}

function makeRepo(dir: string): string {
  const repo = path.join(dir, 'repo');
  fs.mkdirSync(repo);
  const e = { ...env(dir), GIT_CONFIG_NOSYSTEM: '1' };
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env: e, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  for (let i = 1; i <= 3; i++) {
    fs.appendFileSync(path.join(repo, 'notes.txt'), `line ${i}\n`);
    git('add', 'notes.txt');
    const date = `2024-01-0${i}T12:00:00Z`;
    execFileSync('git', ['-c', 'user.name=Ann Example', '-c', 'user.email=ann@example.com', 'commit', '-q', '-m', `commit ${i}`], {
      cwd: repo,
      env: { ...e, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date },
      stdio: 'pipe',
    });
  }
  git('gc', '-q'); // history in a pack file, which git maps
  fs.appendFileSync(path.join(repo, 'notes.txt'), 'uncommitted\n');
  fs.writeFileSync(path.join(repo, 'new.txt'), 'untracked\n');
  return repo;
}

const PY_SCRIPT = `
import random, sys, threading, time, urllib.request
print(open(sys.argv[1]).read().strip())
print("time", time.time())
print("random", random.random())
results = []
t = threading.Thread(target=lambda: results.append(sum(range(1000))))
t.start(); t.join()
print("thread", results)
with urllib.request.urlopen(sys.argv[2]) as r:
    print(r.status, len(r.read()))
`;

const PY_SCRIPT_ONE_THREAD = PY_SCRIPT.replace(/^results = \[\][\s\S]*?print\("thread", results\)\n/m, '');

/** Debian's python3 running `script`: it prints a file, the time, a random number, [what the
 * thread printed,] and the status and size of an HTTP response. */
function python(name: string, script: string, thread: string): Program {
  return {
    name,
    http: true,
    setup(dir, url) {
      fs.writeFileSync(path.join(dir, 'input.txt'), 'read by python\n');
      fs.writeFileSync(path.join(dir, 'script.py'), script);
      return { command: ['/usr/bin/python3', 'script.py', 'input.txt', url], cwd: dir };
    },
    check(out) {
      expect(out.toString()).toMatch(new RegExp(`^read by python\\ntime \\d+\\.\\d+\\nrandom 0\\.\\d+\\n${thread}200 98304\\n$`));
    },
  };
}

const programs: Program[] = [
  {
    name: 'cat',
    setup(dir) {
      fs.writeFileSync(path.join(dir, 'a.txt'), 'first file\nsecond line\n');
      fs.writeFileSync(path.join(dir, 'b.bin'), BINARY);
      return { command: ['cat', 'a.txt', 'b.bin'], cwd: dir };
    },
    check(out) {
      expect(out.equals(Buffer.concat([Buffer.from('first file\nsecond line\n'), BINARY]))).toBe(true);
    },
  },
  {
    name: 'ls -l',
    setup(dir) {
      const d = path.join(dir, 'listing');
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'small.txt'), 'x');
      fs.writeFileSync(path.join(d, 'big.bin'), bytes(70000, 5));
      fs.mkdirSync(path.join(d, 'subdir'));
      fs.symlinkSync('small.txt', path.join(d, 'link'));
      for (const f of ['small.txt', 'big.bin', 'subdir']) fs.utimesSync(path.join(d, f), 1700000000, 1700000000);
      return { command: ['ls', '-l', d] };
    },
    check(out) {
      const s = out.toString();
      expect(s).toMatch(/^total \d+\n/);
      expect(s).toMatch(/ 70000 Nov 14 {2}2023 big\.bin\n/);
      expect(s).toContain('link -> small.txt');
      expect(s).toMatch(/^d.* subdir$/m);
    },
  },
  {
    name: 'sort',
    setup(dir) {
      fs.writeFileSync(path.join(dir, 'words.txt'), WORDS.join('\n') + '\n');
      return { command: ['sort', 'words.txt'], cwd: dir };
    },
    check(out) {
      expect(out.toString()).toBe([...WORDS].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).join('\n') + '\n');
    },
  },
  {
    name: 'sha256sum',
    setup(dir) {
      fs.writeFileSync(path.join(dir, 'big.bin'), bytes(1 << 20, 9));
      return { command: ['sha256sum', 'big.bin'], cwd: dir };
    },
    check(out) {
      expect(out.toString()).toBe(`${createHash('sha256').update(bytes(1 << 20, 9)).digest('hex')}  big.bin\n`);
    },
  },
  {
    name: 'date',
    setup() {
      return { command: ['date', '+%Y-%m-%dT%H:%M:%S.%N %s'] };
    },
    check(out) {
      const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d{9} (\d+)\n$/.exec(out.toString());
      expect(m).not.toBeNull();
      expect(Math.abs(Number(m![2]) - Date.now() / 1000)).toBeLessThan(600);
    },
  },
  {
    name: 'sqlite3',
    setup(dir) {
      const sql =
        "create table t(id integer primary key, name text, score real);" +
        "insert into t(name, score) values ('ann', 9.5), ('bob', 7.25), ('cy', 8);" +
        "update t set score = score + 1 where name = 'bob';" +
        'select id, name, score from t order by score desc;' +
        'select count(*), sum(score) from t;';
      return { command: ['sqlite3', path.join(dir, 'app.db'), sql] };
    },
    check(out) {
      expect(out.toString()).toBe('1|ann|9.5\n2|bob|8.25\n3|cy|8.0\n3|25.75\n');
    },
  },
  {
    name: 'git status',
    setup(dir) {
      const repo = makeRepo(dir);
      return { command: ['git', 'status'], cwd: repo, env: env(dir, { GIT_CONFIG_NOSYSTEM: '1' }) };
    },
    check(out) {
      const s = out.toString();
      expect(s).toContain('On branch main');
      expect(s).toContain('modified:   notes.txt');
      expect(s).toContain('new.txt');
    },
  },
  {
    name: 'git log',
    setup(dir) {
      const repo = makeRepo(dir);
      return { command: ['git', 'log', '--stat'], cwd: repo, env: env(dir, { GIT_CONFIG_NOSYSTEM: '1' }) };
    },
    check(out) {
      const s = out.toString();
      expect(s.match(/^commit [0-9a-f]{40}$/gm)?.length).toBe(3);
      expect(s).toContain('Author: Ann Example <ann@example.com>');
      expect(s).toContain('Date:   Tue Jan 2 12:00:00 2024 +0000');
      expect(s).toContain('    commit 3');
    },
  },
  {
    name: 'wget',
    http: true,
    setup(_dir, url) {
      return { command: ['wget', '-q', '-O', '-', url] };
    },
    check(out) {
      expect(out.equals(HTTP_BODY)).toBe(true);
    },
  },
  {
    name: 'curl',
    http: true,
    setup(_dir, url) {
      return { command: ['curl', '-sS', url] };
    },
    check(out) {
      expect(out.equals(HTTP_BODY)).toBe(true);
    },
  },
  python('python3 (one thread)', PY_SCRIPT_ONE_THREAD, ''),
  python('python3 (threads)', PY_SCRIPT, 'thread \\[499500\\]\\n'),
  {
    name: 'C worker pool',
    setup(dir) {
      const exe = path.join(tmp, 'worker-pool'); // outside `dir`, which replay must not need
      execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', exe, path.join(__dirname, 'fixtures', 'worker-pool.c')]);
      fs.writeFileSync(path.join(dir, 'jobs.txt'), WORDS.slice(0, 24).join('\n') + '\n');
      return { command: [exe, path.join(dir, 'jobs.txt')] };
    },
    check(out) {
      const s = out.toString();
      expect(s.match(/^worker \d job \d+ \S+ -> [0-9a-f]{16} at \d+\.\d{9}$/gm)).toHaveLength(24);
      expect(s).toContain('all 24 jobs done\n');
    },
  },
  {
    name: 'node -e',
    replayLimit: { name: 'a thread held while another waits for it', reason: SPINNING_THREAD },
    setup() {
      // node reads /proc/self/maps to find its own stack: its addresses must be the replay's.
      return { command: [process.execPath, '-e', 'console.log("node", 6 * 7, require("os").platform())'], aslr: false };
    },
    check(out) {
      expect(out.toString()).toBe('node 42 linux\n');
    },
  },
  {
    name: 'sh pipeline',
    setup(dir) {
      fs.writeFileSync(path.join(dir, 'words.txt'), WORDS.join('\n') + '\n');
      return { command: ['/bin/sh', '-c', 'sort words.txt | uniq | wc -l'], cwd: dir };
    },
    check(out) {
      expect(out.toString().trim()).toBe(String(new Set(WORDS).size));
    },
  },
];

interface Server {
  url: string;
  port: number;
  stop(): Promise<void>;
}

async function startServer(): Promise<Server> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': HTTP_BODY.length });
    res.end(HTTP_BODY);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/payload.bin`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

beforeAll(async () => {
  store = await openStore(path.join(tmp, 'store'));
});

afterAll(async () => {
  const limits = limited.length ? `; named limits: ${limited.join(', ')}` : '';
  console.log(`corpus: ${passed.length}/${programs.length} pass (${passed.join(', ')})${limits}`);
  await store?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the corpus of real programs', () => {
  it.each(programs.map((p, i) => [p.name, i] as const))('%s', async (_name, index) => {
    const p = programs[index];
    const dir = path.join(tmp, `p${index}`);
    fs.mkdirSync(dir);
    const server = p.http ? await startServer() : null;
    const run = p.setup(dir, server?.url ?? '');
    const runEnv = run.env ?? env(dir);
    const cwd = run.cwd ?? dir;
    const incident = `corpus-${index}`;
    let recorded: EventRow[] | undefined;
    let refusal: string | undefined;
    try {
      recorded = await recordOnly({ incident, command: run.command, env: runEnv, cwd, store, aslr: run.aslr });
    } catch (e) {
      if (!p.limit) {
        await server?.stop();
        throw e;
      }
      refusal = (e as Error).message;
    }
    if (p.limit) {
      try {
        expect(refusal, `${p.name} no longer hits its limit: switch it to full replay`).toBe(
          `recording failed: ${p.limit.message}; nothing was stored`,
        );
        expect(await store.incident(incident)).toBeNull();
        // Run natively, it does what its check expects: only the limit is in the way.
        const native = await execFileP(run.command[0], run.command.slice(1), { cwd, env: runEnv, encoding: 'buffer' });
        p.check(native.stdout);
      } finally {
        await server?.stop();
      }
      limited.push(`${p.name} (${p.limit.name})`);
      return;
    }
    await server?.stop();
    const info = await store.incident(incident);
    expect(info?.exit_code).toBe(0);

    // Replay needs none of the inputs and reaches no server: the recorded port has a listener
    // that would notice a connection.
    fs.rmSync(dir, { recursive: true, force: true });
    const trap = server ? await watchPort(server.port) : null;
    try {
      const { run: r, sequenceDiff, recordedSequence, replayedSequence } = await replayAndCompare(incident, store, recorded!);
      p.check(r.recorded.stdout);
      expect(trap?.contacts() ?? 0).toBe(0);
      if (r.divergence && p.replayLimit) {
        // The named limit: exactly its reason, after a faithful prefix of the recording.
        expect(r.divergence.reason).toMatch(p.replayLimit.reason);
        expect(replayedSequence.length).toBeGreaterThan(0);
        expect(replayedSequence).toEqual(recordedSequence.slice(0, replayedSequence.length));
        limited.push(`${p.name} (${p.replayLimit.name}: diverged at seq ${r.divergence.seq})`);
        return;
      }
      expect(r.divergence, r.divergence?.reason).toBeNull();
      expect(r.exitCode).toBe(0);
      expect(r.stdout.equals(r.recorded.stdout)).toBe(true);
      expect(sequenceDiff).toBeNull();
      expect(trap?.contacts() ?? 0).toBe(0);
      expect(fs.existsSync(dir)).toBe(false);
    } finally {
      await trap?.close();
    }
    passed.push(p.name);
  });
});
