#!/bin/sh
# Current Jupyter for the replaybook kernel and its tests: JupyterLab 4, Notebook 7 and
# ipywidgets 8 (with nbconvert), at the exact versions of kernel/requirements-jupyter.txt, in a
# virtual environment of the checkout (.venv-jupyter, or $REPLAYBOOK_JUPYTER_VENV). Debian's
# Notebook 6 (scripts/install-system-deps.sh) stays for the classic front end; then the replay
# panel's timeline extension is built against it. Idempotent: an environment that already has
# these versions is left as it is.
set -eu
cd "$(dirname "$0")/.."
VENV="${REPLAYBOOK_JUPYTER_VENV:-$PWD/.venv-jupyter}"
REQ="$PWD/kernel/requirements-jupyter.txt"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if ! { [ -x "$VENV/bin/python" ] && [ -f "$VENV/.requirements" ] && cmp -s "$REQ" "$VENV/.requirements"; }; then
  echo "replaybook: making the Jupyter environment $VENV (JupyterLab 4, Notebook 7, ipywidgets 8)"
  "$PY" -m venv "$VENV"
  # --retries 0: an index that cannot be reached fails at once instead of after minutes of retries.
  "$VENV/bin/pip" install -q --retries 0 --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$VENV/.requirements"
fi
# The replay panel's timeline extension, built against this environment's JupyterLab (skipped
# when its build is current; before npm install, `npm install` builds it).
if [ -d node_modules/@jupyterlab/builder ]; then
  REPLAYBOOK_JUPYTER_VENV="$VENV" node "$PWD/scripts/build-labextension.js"
fi
