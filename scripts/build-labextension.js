#!/usr/bin/env node
'use strict';
// Builds replaybook's JupyterLab 4 / Notebook 7 extension (labextension/: the replay panel's
// timeline widget) into labextension/build/replaybook-timeline with @jupyterlab/builder (pinned
// in package-lock.json), against the JupyterLab of the project's Jupyter environment
// (.venv-jupyter, made by scripts/install-jupyter.sh, or $REPLAYBOOK_JUPYTER_VENV), whose
// staging package names the packages JupyterLab shares. `replaybook kernel install` copies the
// build where Jupyter looks. Skipped when the build is newer than its sources; with --if-jupyter
// (npm install) also where there is no Jupyter environment yet.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const ext = path.join(root, 'labextension');
const out = path.join(ext, 'build', 'replaybook-timeline');
const stamp = path.join(out, 'package.json');

function newest(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

const sources = Math.max(newest(path.join(ext, 'src')), fs.statSync(path.join(ext, 'package.json')).mtimeMs);
if (fs.existsSync(stamp) && fs.statSync(stamp).mtimeMs >= sources && !process.argv.includes('--force')) process.exit(0);

const venv = process.env.REPLAYBOOK_JUPYTER_VENV || path.join(root, '.venv-jupyter');
const python = fs.existsSync(path.join(venv, 'bin', 'python')) ? path.join(venv, 'bin', 'python') : 'python3';
const where = spawnSync(python, ['-c', 'import jupyterlab, os; print(os.path.dirname(jupyterlab.__file__))'], { encoding: 'utf8' });
if (where.status !== 0) {
  if (process.argv.includes('--if-jupyter')) process.exit(0);
  process.stderr.write(`replaybook: no JupyterLab to build the timeline extension against (${python}): run scripts/install-jupyter.sh first\n`);
  process.exit(1);
}
const core = path.join(where.stdout.trim(), 'staging');
const builder = require.resolve('@jupyterlab/builder/lib/build-labextension.js', { paths: [root] });
fs.rmSync(out, { recursive: true, force: true });
const r = spawnSync(process.execPath, [builder, '--core-path', core, ext], { stdio: 'inherit', cwd: root });
if (r.status !== 0) {
  process.stderr.write('replaybook: building the timeline extension failed (see above)\n');
  process.exit(r.status ?? 1);
}
