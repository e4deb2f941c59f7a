#!/bin/sh
# System packages replaybook needs on Debian or Ubuntu: a C/C++ toolchain for the native engine
# (node-gyp) and the demo's fixture services, python3 for node-gyp, fonts for chart rendering,
# strace for the benchmark's baseline, Debian's Jupyter (notebook, nbconvert, nbclient) for
# the notebook kernel and its tests, and Debian's clickhouse-server (18.16, too old for replaybook's
# server store) for the test proving that such a server is refused with a clear error; that test
# starts its own instance on 127.0.0.1, so the packaged service is not left running. sqlite3,
# wget, git and curl are real programs the replay corpus (test/corpus.test.ts) records and replays.
# chromium is the headless browser (driven by playwright-core) that the tests open exported
# notebooks and a live Jupyter Notebook in (test/browser.test.ts), and bench/notebook.js times
# chart drawing in. nginx-light and redis-server are services test/services.test.ts records
# (each started there on a free loopback port; the packaged services are not left running);
# wrk drives nginx in bench/nginx.js, and redis-benchmark (from redis-tools) redis in
# bench/record-cost.js.
# python3-venv makes the environment of JupyterLab 4 / Notebook 7 / ipywidgets 8
# (scripts/install-jupyter.sh, run at the end).
set -eu
PACKAGES="g++ gcc make golang-go python3 fonts-dejavu-core strace jupyter-notebook jupyter-nbconvert python3-nbclient jupyter-client clickhouse-server sqlite3 wget git curl chromium nginx-light redis-server wrk python3-venv"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# A JDK for the JVM that test/services.test.ts records (any JDK 17+ on PATH will do).
command -v javac >/dev/null 2>&1 || missing="$missing default-jdk-headless"
if [ -n "$missing" ]; then
  echo "replaybook: installing system packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
  case " $missing " in
    *" nginx-light "*|*" redis-server "*)
      if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now nginx redis-server >/dev/null 2>&1 || true
      fi
      ;;
  esac
  case " $missing " in
    *" clickhouse-server "*)
      if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now clickhouse-server >/dev/null 2>&1 || true
      fi
      ;;
  esac
fi
sh "$(dirname "$0")/install-jupyter.sh"
