// Current Jupyter for tests: JupyterLab 4 and Notebook 7 from the project's virtual environment
// (.venv-jupyter, made by scripts/install-jupyter.sh with the versions pinned in
// kernel/requirements-jupyter.txt), serving a folder on loopback with token auth; notebooks are
// written through the contents API. Always shut down with what it started.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from './net';
import { ROOT, shutdownServer } from './jupyter';

export const VENV = process.env.REPLAYBOOK_JUPYTER_VENV || path.join(ROOT, '.venv-jupyter');
export const VENV_BIN = path.join(VENV, 'bin');

export type Frontend = 'lab' | 'notebook';

/** Fails, saying how to fix it, when the environment is missing. */
export function requireVenv(): void {
  for (const exe of ['jupyter-lab', 'jupyter-notebook', 'python']) {
    if (!fs.existsSync(path.join(VENV_BIN, exe))) {
      throw new Error(`${path.join(VENV_BIN, exe)} is missing: run scripts/install-jupyter.sh (scripts/install-system-deps.sh runs it), which makes ${VENV} with JupyterLab 4, Notebook 7 and ipywidgets 8`);
    }
  }
}

export interface JupyterServer {
  kind: Frontend;
  url: string;
  token: string;
  pid: number;
  /** The notebook's page in this front end, with the token. */
  notebookUrl(name: string): string;
  /** Writes a notebook of code cells (replaybook kernel) through the contents API. */
  putNotebook(name: string, cells: string[]): Promise<void>;
  getNotebook(name: string): Promise<{ cells: Array<{ cell_type: string; source: string; execution_count: number | null; outputs: Array<Record<string, unknown>> }>; metadata: Record<string, unknown> }>;
  log(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts `jupyter lab` or `jupyter notebook` (Notebook 7) from the venv on 127.0.0.1. */
export async function startJupyter(kind: Frontend, dir: string, env: NodeJS.ProcessEnv): Promise<JupyterServer> {
  requireVenv();
  const token = randomBytes(24).toString('hex');
  const port = await freePort();
  const args = [
    '--no-browser',
    '--ip=127.0.0.1',
    `--port=${port}`,
    '--port-retries=0',
    `--ServerApp.root_dir=${dir}`,
    `--IdentityProvider.token=${token}`,
    '--ServerApp.password=',
    '--MappingKernelManager.cull_idle_timeout=0',
    // No look-ups of news or updates: this machine and CI have no network.
    '--LabApp.news_url=',
    '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
  ];
  if (process.getuid?.() === 0) args.push('--allow-root');
  const exe = path.join(VENV_BIN, kind === 'lab' ? 'jupyter-lab' : 'jupyter-notebook');
  const child = spawn(exe, args, { env: { ...env, PATH: `${VENV_BIN}:${env.PATH ?? ''}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (log += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
  const url = `http://127.0.0.1:${port}/`;
  const auth = { Authorization: `token ${token}` };

  const stop = (): Promise<void> => shutdownServer(child, url, token);

  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`jupyter ${kind} exited (${child.exitCode ?? child.signalCode}) before it answered:\n${log}`);
    try {
      const r = await fetch(`${url}api/status`, { headers: auth, signal: AbortSignal.timeout(2000) });
      if (r.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`jupyter ${kind} did not answer on ${url} within 90 s:\n${log}`);
    }
    await sleep(250);
  }
  return {
    kind,
    url,
    token,
    pid: child.pid!,
    // JupyterLab restores the server's last workspace (other notebooks' tabs): `reset` starts from none.
    notebookUrl: (name) => `${url}${kind === 'lab' ? 'lab/tree' : 'notebooks'}/${encodeURIComponent(name)}?token=${token}${kind === 'lab' ? '&reset' : ''}`,
    async putNotebook(name, cells) {
      const content = {
        nbformat: 4,
        nbformat_minor: 5,
        metadata: { kernelspec: { name: 'replaybook', display_name: 'replaybook (TypeScript)', language: 'typescript' } },
        cells: cells.map((source, i) => ({ cell_type: 'code', id: `cell-${i}`, source, metadata: {}, outputs: [], execution_count: null })),
      };
      const r = await fetch(`${url}api/contents/${encodeURIComponent(name)}`, {
        method: 'PUT',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 'notebook', format: 'json', content }),
      });
      if (!r.ok) throw new Error(`PUT ${name}: ${r.status} ${await r.text()}`);
    },
    async getNotebook(name) {
      const r = await fetch(`${url}api/contents/${encodeURIComponent(name)}?content=1`, { headers: auth });
      if (!r.ok) throw new Error(`GET ${name}: ${r.status} ${await r.text()}`);
      return ((await r.json()) as { content: never }).content;
    },
    log: () => log,
    stop,
  };
}
