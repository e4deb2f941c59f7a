// Real Jupyter for tests (Debian's packages, run by /usr/bin/python3): an environment of its own
// under a temporary folder, the replaybook kernelspec installed there, notebooks executed by
// nbconvert, and a Notebook server on loopback that is always shut down with what it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from './net';
import { runProcess } from './run';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'bin', 'replaybook.js');
export const NOTEBOOKS = path.join(ROOT, 'notebooks');
export const PYTHON = '/usr/bin/python3';
export const JUPYTER_NOTEBOOK = '/usr/bin/jupyter-notebook';

/** Jupyter's and replaybook's folders, all under `work`: nothing is read from or left in $HOME. */
export function jupyterEnv(work: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    REPLAYBOOK_HOME: path.join(work, 'store'),
    JUPYTER_PATH: path.join(work, 'jupyter', 'share', 'jupyter'),
    JUPYTER_RUNTIME_DIR: path.join(work, 'runtime'),
    JUPYTER_CONFIG_DIR: path.join(work, 'config'),
    JUPYTER_DATA_DIR: path.join(work, 'data'),
    JUPYTER_PLATFORM_DIRS: '1',
    IPYTHONDIR: path.join(work, 'ipython'),
  };
}

/** `replaybook kernel install --prefix work/jupyter`, which JUPYTER_PATH above finds. */
export async function installKernel(work: string, env: NodeJS.ProcessEnv): Promise<void> {
  const r = await runProcess(process.execPath, [CLI, 'kernel', 'install', '--prefix', path.join(work, 'jupyter')], env);
  if (r.code !== 0 || !r.stdout.includes('installed the Jupyter kernel')) {
    throw new Error(`replaybook kernel install failed (${r.code}): ${r.stderr || r.stdout}`);
  }
}

/** Executes a notebook headlessly with nbconvert, as `jupyter nbconvert --to notebook --execute`. */
export async function executeNotebook(notebook: string, out: string, env: NodeJS.ProcessEnv): Promise<{ seconds: number }> {
  const t0 = Date.now();
  const r = await runProcess(PYTHON, ['-m', 'nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.timeout=300', '--output', out, notebook], env);
  if (r.code !== 0 || /Traceback|CellExecutionError/.test(r.stderr)) throw new Error(`nbconvert --execute ${notebook} failed (${r.code}):\n${r.stderr}`);
  return { seconds: (Date.now() - t0) / 1000 };
}

export interface NotebookServer {
  url: string;
  port: number;
  token: string;
  /** The notebook's address in the classic UI, with the token. */
  notebookUrl(name: string): string;
  /** What the server printed so far. */
  log(): string;
  /** The server's process id. */
  pid: number;
  /** Shuts the server and its kernels down: /api/shutdown, then SIGTERM, then SIGKILL. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Shuts a Jupyter server and its kernels down: /api/shutdown, then SIGTERM, then SIGKILL. */
export async function shutdownServer(child: ChildProcess, url: string, token: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    await fetch(`${url}api/shutdown`, { method: 'POST', headers: { Authorization: `token ${token}` }, signal: AbortSignal.timeout(5000) });
  } catch {
    // Not answering: the signals below.
  }
  if (await exited(child, 15_000)) return;
  child.kill('SIGTERM');
  if (await exited(child, 10_000)) return;
  child.kill('SIGKILL');
  await exited(child, 5_000);
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * Starts Debian's Jupyter Notebook server on 127.0.0.1 with token auth, serving `dir`; resolves
 * when it answers /api/status. Its command line names `dir`, and the kernels it starts (its
 * children) name their connection files under JUPYTER_RUNTIME_DIR.
 */
export async function startNotebookServer(dir: string, env: NodeJS.ProcessEnv): Promise<NotebookServer> {
  if (!fs.existsSync(JUPYTER_NOTEBOOK)) throw new Error(`${JUPYTER_NOTEBOOK} is missing: run scripts/install-system-deps.sh (it installs Debian's jupyter-notebook)`);
  const token = randomBytes(24).toString('hex');
  const port = await freePort();
  const args = [
    JUPYTER_NOTEBOOK,
    '--no-browser',
    '--ip=127.0.0.1',
    `--port=${port}`,
    '--port-retries=0',
    `--notebook-dir=${dir}`,
    `--NotebookApp.token=${token}`,
    '--NotebookApp.password=',
    '--MappingKernelManager.cull_idle_timeout=0',
  ];
  if (process.getuid?.() === 0) args.push('--allow-root');
  const child = spawn(PYTHON, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (log += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
  const url = `http://127.0.0.1:${port}/`;

  const stop = (): Promise<void> => shutdownServer(child, url, token);

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`jupyter-notebook exited (${child.exitCode ?? child.signalCode}) before it answered:\n${log}`);
    try {
      const r = await fetch(`${url}api/status`, { headers: { Authorization: `token ${token}` }, signal: AbortSignal.timeout(2000) });
      if (r.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`jupyter-notebook did not answer on ${url} within 60 s:\n${log}`);
    }
    await sleep(200);
  }
  return {
    url,
    port,
    token,
    pid: child.pid!,
    notebookUrl: (name) => `${url}notebooks/${encodeURIComponent(name)}?token=${token}`,
    log: () => log,
    stop,
  };
}
