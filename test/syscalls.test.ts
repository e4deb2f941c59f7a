// Per-syscall record/replay tests, in the manner of rr's test suite: one small C program per
// syscall family the table emulates (test/syscalls/*.c), including error returns and partial
// reads. Each prints what the kernel answered (values, errno names, bytes in hex); it is recorded,
// its input files are deleted, and the replay must print the same, exit the same and make the
// same syscalls with the same bytes, touching nothing on disk.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type ChdbStore } from '../src/store';
import { recordWithWarnings, replayAndCompare } from './helpers/replay-check';
import { makeInputs } from './helpers/syscall-inputs';

const SRC = path.join(__dirname, 'syscalls');
const programs = fs.readdirSync(SRC).filter((f) => f.endsWith('.c')).map((f) => f.slice(0, -2)).sort();

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-syscalls-'));
const binDir = path.join(tmp, 'bin');
let store: ChdbStore;
const passed: string[] = [];

/** The syscalls a program names in its `// syscalls:` line: each must be in its recording. */
function declared(name: string): string[] {
  const m = /^\/\/ syscalls: (.+)$/m.exec(fs.readFileSync(path.join(SRC, `${name}.c`), 'utf8'));
  if (!m) throw new Error(`${name}.c lacks a "// syscalls:" line`);
  return m[1].trim().split(/\s+/);
}

/** Record options a program asks for in a `// record:` line (`aslr`: address randomization on). */
function recordFlags(name: string): { aslr?: boolean } {
  const m = /^\/\/ record: (.+)$/m.exec(fs.readFileSync(path.join(SRC, `${name}.c`), 'utf8'));
  const words = m ? m[1].trim().split(/\s+/) : [];
  const unknown = words.filter((w) => w !== 'aslr');
  if (unknown.length) throw new Error(`${name}.c: unknown record option ${unknown.join(' ')}`);
  return words.includes('aslr') ? { aslr: true } : {};
}

beforeAll(async () => {
  fs.mkdirSync(binDir);
  store = await openStore(path.join(tmp, 'store'));
});

afterAll(async () => {
  console.log(`syscall tests: ${passed.length}/${programs.length} pass (${passed.join(' ')})`);
  await store?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('per-syscall record and replay', () => {
  it('has a program for every emulated family', () => {
    expect(programs.length).toBeGreaterThanOrEqual(20);
  });

  it.each(programs)('%s: replays with the same output, exit status and syscalls', async (name) => {
    const exe = path.join(binDir, name);
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', exe, path.join(SRC, `${name}.c`)], { stdio: 'pipe' });
    const data = path.join(tmp, `in-${name}`);
    makeInputs(data);
    const { events: recorded, warnings } = await recordWithWarnings({
      incident: `sys-${name}`,
      command: [exe, data],
      env: { PATH: '/usr/bin:/bin', LANG: 'C' },
      cwd: binDir,
      store,
      ...recordFlags(name),
    });
    const names = new Set(recorded.map((e) => e.name));
    expect(declared(name).filter((n) => !names.has(n)), 'declared syscalls missing from the log').toEqual([]);
    expect(recorded.filter((e) => e.name === 'unknown').map((e) => e.nr), 'syscalls the table lacks').toEqual([]);

    // Replay needs none of the inputs, and creates, renames or removes nothing for real.
    fs.rmSync(data, { recursive: true, force: true });
    const { run, sequenceDiff } = await replayAndCompare(`sys-${name}`, store, recorded);
    expect(run.recorded.exitCode).toBe(0);
    if (name === 'rdtsc' && warnings.some((w) => /does not trap rdtsc/.test(w))) {
      // A hypervisor that ignores CR4.TSD: the counter can be neither recorded nor served. The
      // recording holds no counter reads, and the recorder and the replay both say why.
      expect(recorded.filter((e) => e.kind === 'instruction')).toEqual([]);
      expect(run.warnings.some((w) => /does not trap rdtsc/.test(w))).toBe(true);
      passed.push(`${name}(untrapped)`);
      return;
    }
    expect(run.recorded.stdout.toString()).not.toContain('CHECK failed');
    expect(run.recorded.stdout.length).toBeGreaterThan(0);
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.stdout.toString()).toBe(run.recorded.stdout.toString());
    expect(run.exitCode).toBe(run.recorded.exitCode);
    expect(sequenceDiff).toBeNull();
    expect(fs.existsSync(data)).toBe(false);
    passed.push(name);
  });
});
