// `replaybook doctor`: can this machine record and replay? Each check runs the real mechanism
// (the engine on /bin/true, the store) and says how to fix what fails.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { RecordBatch } from 'apache-arrow';
import { nativeAddon, runEngine } from './engine/engine';
import type { DivergenceMessage, ErrorMessage, ExitMessage, StartedMessage, WarningMessage } from './engine/protocol';
import { toRecordBatch } from './engine/columns';
import { openStore, storeHome } from './store';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** A limit of this machine that recording and replay live with: shown, not counted as failed. */
  limit?: boolean;
}

function kernelAtLeast(major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(os.release());
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

function readProc(root: string, file: string): string | null {
  try {
    return fs.readFileSync(`${root}/${file}`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** What forbids ptrace here, read from the kernel's settings under `root` (/proc). */
export function ptraceDiagnosis(root = '/proc', uid = process.getuid?.() ?? 0): string[] {
  const out: string[] = [];
  const scope = readProc(root, 'sys/kernel/yama/ptrace_scope');
  if (scope === '3') out.push('Yama ptrace_scope is 3 (/proc/sys/kernel/yama/ptrace_scope): ptrace is off for everyone until reboot');
  if (scope === '2' && uid !== 0) {
    out.push('Yama ptrace_scope is 2 (/proc/sys/kernel/yama/ptrace_scope): only root may trace; run as root or `sysctl -w kernel.yama.ptrace_scope=1`');
  }
  if (/^Seccomp:\s*2/m.test(readProc(root, 'self/status') ?? '')) {
    out.push('this process runs under a seccomp filter (a container profile such as Docker\'s default) that may refuse ptrace: run the container with --security-opt seccomp=unconfined (and --cap-add SYS_PTRACE)');
  }
  return out;
}

/**
 * Why a user other than root cannot make the user namespace a replay needs (empty when nothing
 * here forbids it), read from the kernel's settings under `root` (/proc).
 */
export function userNamespaceDiagnosis(root = '/proc'): string[] {
  const out: string[] = [];
  if (readProc(root, 'sys/kernel/unprivileged_userns_clone') === '0') {
    out.push('kernel.unprivileged_userns_clone is 0: users other than root cannot create user namespaces (`sysctl -w kernel.unprivileged_userns_clone=1`)');
  }
  if (readProc(root, 'sys/user/max_user_namespaces') === '0') {
    out.push('user.max_user_namespaces is 0: user namespaces are off (`sysctl -w user.max_user_namespaces=15000`)');
  }
  if (readProc(root, 'sys/kernel/apparmor_restrict_unprivileged_userns') === '1') {
    out.push('AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1): set it to 0, or give node an AppArmor profile with `userns,`');
  }
  if (/^Seccomp:\s*2/m.test(readProc(root, 'self/status') ?? '')) {
    out.push('this process runs under a seccomp filter (a container profile such as Docker\'s default refuses unshare(CLONE_NEWUSER)): run the container with --security-opt seccomp=unconfined, or replay as root in it');
  }
  return out;
}

async function engineChecks(): Promise<Check[]> {
  const checks: Check[] = [];
  try {
    nativeAddon();
    checks.push({ name: 'native engine', ok: true, detail: 'built' });
  } catch (e) {
    checks.push({ name: 'native engine', ok: false, detail: (e as Error).message, fix: 'run `npm install` in the replaybook folder (needs g++ and make)' });
    return checks;
  }
  const exe = fs.existsSync('/bin/true') ? '/bin/true' : '/usr/bin/true';
  const batches: RecordBatch[] = [];
  const files = new Map<string, string>();
  let started: StartedMessage | undefined;
  const rec = await runEngine({
    mode: 'record', exe, argv: [exe], env: ['PATH=/usr/bin:/bin'], cwd: '/', pin: true,
    onEvents: (c) => batches.push(toRecordBatch(c, 'doctor', 'recording')),
    onMessage: (m) => {
      if (m.type === 'started') started = m;
      if (m.type === 'file') files.set(m.path, m.path);
    },
  });
  const recErr = rec.messages.find((m): m is ErrorMessage => m.type === 'error');
  const recorded = batches.reduce((n, b) => n + b.numRows, 0);
  checks.push({
    name: 'ptrace + seccomp (record)',
    ok: !recErr && recorded > 0,
    detail: recErr ? recErr.message : `recorded ${recorded} syscalls of ${exe}`,
    fix: ptraceDiagnosis().join('; ') || 'ptrace must be allowed: in a container, allow ptrace and seccomp (e.g. --cap-add SYS_PTRACE, --security-opt seccomp=unconfined)',
  });
  checks.push({
    name: 'CPU pinning',
    ok: started !== undefined && started.cpu >= 0,
    detail: started !== undefined && started.cpu >= 0 ? `tracer and tracee on CPU ${started.cpu}` : 'sched_setaffinity failed',
    fix: 'allow sched_setaffinity, or record with --no-pin (stops then cost ~25x more)',
  });
  // A limit of this machine, which the recording names in a warning when it has it.
  const limit = (code: string, name: string, okDetail: string, fix: string): void => {
    const w = rec.messages.find((m): m is WarningMessage => m.type === 'warning' && m.code === code);
    checks.push({ name, ok: !w, limit: true, detail: w ? w.message : okDetail, fix });
  };
  limit(
    'tsc_untrapped',
    'time-stamp counter trap',
    'rdtsc faults under PR_SET_TSC: counter reads are recorded and served',
    'a hypervisor that honours the guest CR4.TSD bit (KVM does unless it emulates rdtsc); without it, Go programs and others that branch on the counter may diverge',
  );
  limit(
    'cpuid_untrapped',
    'cpuid trap',
    'cpuid faults: its answers are recorded and served',
    'a CPU (or hypervisor) with cpuid faulting (the cpuid_fault flag in /proc/cpuinfo); without it, a program that branches on CPU features may take another path when replayed on another machine',
  );
  if (recErr || recorded === 0) return checks;
  const run = await runEngine({
    mode: 'replay', exe, argv: [exe], env: ['PATH=/usr/bin:/bin'], cwd: '/', pin: true, speed: 'max', files, input: batches,
    onEvents: () => undefined,
  });
  const runErr = run.messages.find((m): m is ErrorMessage | DivergenceMessage => m.type === 'error' || m.type === 'divergence');
  const exit = run.messages.find((m): m is ExitMessage => m.type === 'exit');
  const root = process.getuid?.() === 0;
  const why = root ? [] : userNamespaceDiagnosis();
  checks.push({
    name: root ? 'replay (mount namespace, placeholders)' : 'replay (user and mount namespace, placeholders)',
    ok: !runErr && exit?.exitCode === 0,
    detail: runErr ? (runErr.type === 'error' ? runErr.message : runErr.reason) : `replayed ${exe}: exit ${String(exit?.exitCode)}`,
    fix: root
      ? 'replay bind-mounts recorded files in a private mount namespace: allow unshare(CLONE_NEWNS)'
      : `as a user other than root, replay makes a user namespace for its private mount namespace${why.length ? `; here: ${why.join('; ')}` : ''}; or replay as root`,
  });
  return checks;
}

export async function runDoctor(): Promise<number> {
  const checks: Check[] = [];
  checks.push({
    name: 'platform',
    ok: process.platform === 'linux' && process.arch === 'x64',
    detail: `${process.platform} ${process.arch}, kernel ${os.release()}`,
    fix: 'replaybook runs on Linux x86-64',
  });
  checks.push({
    name: 'pidfd (kernel >= 5.6)',
    ok: kernelAtLeast(5, 6),
    detail: `kernel ${os.release()}`,
    fix: 'pidfd_getfd needs Linux 5.6 or newer; without it accepted sockets are named "accepted" instead of by peer',
  });
  try {
    const scope = fs.readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim();
    checks.push({ name: 'yama ptrace_scope', ok: scope !== '3', detail: scope, fix: 'ptrace_scope 3 forbids ptrace entirely until reboot' });
  } catch {
    // no Yama: nothing to check
  }
  try {
    checks.push(...(await engineChecks()));
  } catch (e) {
    checks.push({ name: 'engine', ok: false, detail: (e as Error).message });
  }
  try {
    const home = storeHome();
    const store = await openStore(home);
    try {
      const n = (await store.incidents()).length;
      checks.push({ name: 'store (chDB)', ok: true, detail: `${home}: ${n} incident${n === 1 ? '' : 's'}` });
    } finally {
      await store.close();
    }
  } catch (e) {
    checks.push({ name: 'store (chDB)', ok: false, detail: (e as Error).message, fix: 'set REPLAYBOOK_HOME to a writable directory' });
  }
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    checks.push({ name: 'C compiler (demo fixtures)', ok: true, detail: 'cc found' });
  } catch {
    checks.push({ name: 'C compiler (demo fixtures)', ok: false, detail: 'cc not found', fix: 'apt-get install gcc (only the demo and tests need it)' });
  }
  for (const c of checks) {
    process.stdout.write(`${c.ok ? 'ok  ' : c.limit ? 'LIMIT' : 'FAIL'}  ${c.name}: ${c.detail}\n`);
    if (!c.ok && c.fix) process.stdout.write(`      ${c.limit ? 'needs' : 'fix'}: ${c.fix}\n`);
  }
  const failed = checks.filter((c) => !c.ok && !c.limit).length;
  process.stdout.write(failed ? `${failed} check(s) failed\n` : 'everything needed to record and replay is here\n');
  return failed ? 1 : 0;
}
