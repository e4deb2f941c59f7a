// Recording and replaying as a user other than root: the replay's private mount namespace comes
// from a user namespace of its own. Run as root, the test creates an unprivileged user and runs
// the CLI as that user (setpriv) on a store it owns; run as a user, it runs the CLI as itself.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ptraceDiagnosis, userNamespaceDiagnosis } from '../src/doctor';
import { runProcess, type Ran } from './helpers/run';

const CLI = path.join(__dirname, '..', 'bin', 'replaybook.js');
const USER = 'rb-nonroot';
const isRoot = process.getuid?.() === 0;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-nonroot-'));
let uid = process.getuid?.() ?? 0;
let gid = process.getgid?.() ?? 0;
let client = '';

/** Runs the CLI as the unprivileged user, with a store of its own. */
function asUser(args: string[], extra: Record<string, string> = {}): Promise<Ran> {
  const env = { PATH: '/usr/bin:/bin', HOME: tmp, REPLAYBOOK_HOME: path.join(tmp, 'store'), ...extra };
  if (!isRoot) return runProcess(process.execPath, [CLI, ...args], env);
  return runProcess('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', process.execPath, CLI, ...args], env);
}

beforeAll(() => {
  if (isRoot) {
    try {
      execFileSync('id', ['-u', USER], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
    }
    uid = Number(execFileSync('id', ['-u', USER]).toString().trim());
    gid = Number(execFileSync('id', ['-g', USER]).toString().trim());
  }
  client = path.join(tmp, 'token-client');
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', client, path.join(__dirname, 'fixtures', 'token-client.c')]);
  fs.chmodSync(tmp, 0o755);
  if (isRoot) execFileSync('chown', ['-R', `${uid}:${gid}`, tmp]);
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('as a user other than root', () => {
  it('records and replays a small C program; the replay reproduces it', async () => {
    const rec = await asUser(['record', '--incident', 'nr-1', '--', client, 'plain'], { API_TOKEN: 'nonroot-secret-9d1c' });
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.stderr).toContain("recorded incident 'nr-1'");
    const run = await asUser(['replay', 'nr-1', '--speed', 'max']);
    expect(run.stderr).not.toContain('cannot create a mount namespace');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('reproduced: same syscalls, same output, same exit status');
    // Its store belongs to it, and to it only.
    const st = fs.statSync(path.join(tmp, 'store'));
    expect(st.uid).toBe(uid);
    expect(st.mode & 0o777).toBe(0o700);
  });

  it('doctor finds everything needed, the user namespace for replay included', async () => {
    const r = await asUser(['doctor']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(isRoot ? /ok {4}replay \(user and mount namespace, placeholders\)/ : /ok {4}replay \(/);
  });
});

describe('doctor names what forbids a non-root replay or ptrace', () => {
  function fakeProc(files: Record<string, string>): string {
    const root = fs.mkdtempSync(path.join(tmp, 'proc-'));
    for (const [f, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
      fs.writeFileSync(path.join(root, f), text);
    }
    return root;
  }

  it('each setting that turns user namespaces off', () => {
    const root = fakeProc({
      'sys/kernel/unprivileged_userns_clone': '0\n',
      'sys/user/max_user_namespaces': '0\n',
      'sys/kernel/apparmor_restrict_unprivileged_userns': '1\n',
      'self/status': 'Name:\tnode\nSeccomp:\t2\nSeccomp_filters:\t1\n',
    });
    const why = userNamespaceDiagnosis(root).join('\n');
    expect(why).toContain('kernel.unprivileged_userns_clone is 0');
    expect(why).toContain('user.max_user_namespaces is 0');
    expect(why).toContain('kernel.apparmor_restrict_unprivileged_userns=1');
    expect(why).toContain('seccomp filter');
    expect(userNamespaceDiagnosis(fakeProc({ 'sys/user/max_user_namespaces': '15000\n', 'self/status': 'Seccomp:\t0\n' }))).toEqual([]);
  });

  it('Yama ptrace_scope 2 for a user, 3 for everyone', () => {
    expect(ptraceDiagnosis(fakeProc({ 'sys/kernel/yama/ptrace_scope': '2\n' }), 1000).join()).toContain('only root may trace');
    expect(ptraceDiagnosis(fakeProc({ 'sys/kernel/yama/ptrace_scope': '2\n' }), 0)).toEqual([]);
    expect(ptraceDiagnosis(fakeProc({ 'sys/kernel/yama/ptrace_scope': '3\n' }), 0).join()).toContain('ptrace is off for everyone');
    expect(ptraceDiagnosis(fakeProc({ 'sys/kernel/yama/ptrace_scope': '1\n' }), 1000)).toEqual([]);
  });
});
