// `replaybook kernel install|uninstall`: the Jupyter kernelspec "replaybook (TypeScript)", installed
// with Jupyter's own `jupyter kernelspec` so it lands where Jupyter looks (--user, --sys-prefix,
// --prefix DIR, or system-wide), and beside it (in that data directory's labextensions) the
// prebuilt JupyterLab 4 / Notebook 7 extension that draws the replay panel's timeline, and the
// nbconvert template `replaybook` (HTML exports that draw charts interactively, offline).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACKAGE_ROOT } from './addon';
import { ReplaybookError } from './errors';
import { CHART_BOOT, vegaScriptSources } from './viz/scripts';

export const KERNEL_NAME = 'replaybook';
export const KERNEL_DISPLAY_NAME = 'replaybook (TypeScript)';
/** Debian's Jupyter lives under the system Python, not whatever python3 is first on PATH. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export type KernelScope = { user: true } | { sysPrefix: true } | { prefix: string } | Record<string, never>;

export function kernelJson(): object {
  return {
    argv: [process.execPath, path.join(PACKAGE_ROOT, 'kernel', 'launcher.js'), '{connection_file}'],
    display_name: KERNEL_DISPLAY_NAME,
    language: 'typescript',
    interrupt_mode: 'signal',
    metadata: { replaybook: { root: PACKAGE_ROOT } },
  };
}

function jupyterKernelspec(args: string[]): string {
  const python = fs.existsSync(SYSTEM_PYTHON) ? SYSTEM_PYTHON : 'python3';
  const r = spawnSync(python, ['-m', 'jupyter_client.kernelspecapp', ...args], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || r.stdout).trim().split('\n').pop();
    if (/No module named/.test(r.stderr ?? '')) {
      throw new ReplaybookError('no_jupyter', 'Jupyter is not installed: apt-get install jupyter-notebook jupyter-nbconvert python3-nbclient jupyter-client');
    }
    throw new ReplaybookError('kernelspec', `jupyter kernelspec ${args[0]} failed: ${why}`);
  }
  return `${r.stdout}${r.stderr}`;
}

function scopeArgs(scope: KernelScope): string[] {
  if ('user' in scope) return ['--user'];
  if ('sysPrefix' in scope) return ['--sys-prefix'];
  if ('prefix' in scope) return [`--prefix=${path.resolve(scope.prefix)}`];
  return [];
}

/** The timeline extension's name, and where scripts/build-labextension.js builds it. */
export const LABEXTENSION_NAME = 'replaybook-timeline';
export const LABEXTENSION_BUILD = path.join(PACKAGE_ROOT, 'labextension', 'build', LABEXTENSION_NAME);

/**
 * Copies the built timeline extension into the labextensions folder of the Jupyter data directory
 * that holds `kernelDir` (…/share/jupyter/kernels/replaybook). Returns where, or null when it is
 * not built (the panel then draws its timeline through an HTML widget).
 */
export function installLabextension(kernelDir: string): string | null {
  if (!fs.existsSync(path.join(LABEXTENSION_BUILD, 'package.json'))) return null;
  const to = path.join(path.dirname(path.dirname(kernelDir)), 'labextensions', LABEXTENSION_NAME);
  fs.rmSync(to, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.cpSync(LABEXTENSION_BUILD, to, { recursive: true });
  return to;
}

/** The nbconvert template's name (`jupyter nbconvert --to html --template replaybook`), and its sources. */
export const NBCONVERT_TEMPLATE = 'replaybook';
const NBCONVERT_TEMPLATE_SRC = path.join(PACKAGE_ROOT, 'nbconvert', NBCONVERT_TEMPLATE);

/**
 * Installs the nbconvert template `replaybook` in the Jupyter data directory that holds
 * `kernelDir` (…/share/jupyter/nbconvert/templates/replaybook), with vega, vega-lite and
 * vega-embed from node_modules in its static/ folder. Returns where, or null when the vega builds
 * are missing.
 */
export function installNbconvertTemplate(kernelDir: string): string | null {
  const vega = vegaScriptSources();
  if (!vega) return null;
  const to = path.join(path.dirname(path.dirname(kernelDir)), 'nbconvert', 'templates', NBCONVERT_TEMPLATE);
  fs.rmSync(to, { recursive: true, force: true });
  fs.mkdirSync(path.join(to, 'static'), { recursive: true });
  fs.cpSync(NBCONVERT_TEMPLATE_SRC, to, { recursive: true });
  fs.writeFileSync(path.join(to, 'static', 'replaybook-vega.js'), vega.map((v) => v.js).join('\n'));
  fs.writeFileSync(path.join(to, 'static', 'replaybook-boot.js'), CHART_BOOT);
  return to;
}

/** Installs the kernelspec (and the timeline extension beside it); returns the kernelspec's directory. */
export function installKernel(scope: KernelScope = {}): string {
  if (!fs.existsSync(path.join(PACKAGE_ROOT, 'dist', 'notebook', 'index.js'))) {
    throw new ReplaybookError('not_built', `replaybook is not built (${PACKAGE_ROOT}/dist is missing): run npm install there first`);
  }
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'replaybook-kernelspec-'));
  const dir = path.join(src, KERNEL_NAME);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'kernel.json'), JSON.stringify(kernelJson(), null, 2) + '\n');
  try {
    const out = jupyterKernelspec(['install', '--replace', `--name=${KERNEL_NAME}`, ...scopeArgs(scope), dir]);
    const m = /Installed kernelspec \S+ in (.+)/.exec(out);
    return m ? m[1].trim() : out.trim();
  } finally {
    fs.rmSync(src, { recursive: true, force: true });
  }
}

/** Removes the kernelspec from wherever Jupyter finds it (and the timeline extension beside it). */
export function uninstallKernel(): string {
  const where = /^\s*replaybook\s+(\S.*)$/m.exec(jupyterKernelspec(['list']))?.[1]?.trim();
  if (where) {
    fs.rmSync(path.join(path.dirname(path.dirname(where)), 'labextensions', LABEXTENSION_NAME), { recursive: true, force: true });
    fs.rmSync(path.join(path.dirname(path.dirname(where)), 'nbconvert', 'templates', NBCONVERT_TEMPLATE), { recursive: true, force: true });
  }
  return jupyterKernelspec(['remove', '-y', KERNEL_NAME]).trim();
}
