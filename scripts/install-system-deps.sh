#!/bin/sh
# System packages replaybook needs on Debian or Ubuntu: a C/C++ toolchain for the native engine
# (node-gyp) and the demo's fixture services, python3 for node-gyp, fonts for chart rendering,
# strace for the benchmark's baseline, and Debian's Jupyter (notebook, nbconvert, nbclient) for
# the notebook kernel and its tests.
set -eu
PACKAGES="g++ gcc make python3 fonts-dejavu-core strace jupyter-notebook jupyter-nbconvert python3-nbclient jupyter-client"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "replaybook: installing system packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
