// Helpers the benchmarks share: medians, timing, the machine line, and appending a section to
// bench/RESULTS.md.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Milliseconds since `t0` (a process.hrtime.bigint()). */
function ms(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** nproc, CPU model, kernel, Node, and the load average when the run started. */
function machine() {
  let nproc = String(os.availableParallelism());
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // coreutils' nproc missing: Node's count
  }
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || 'unknown CPU';
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  return `nproc ${nproc} × ${cpu}, Linux ${os.release()}, Node ${process.version}; load average at start ${load}`;
}

/** Appends a dated section (unless NO_RESULTS=1). `lines` are markdown lines. */
function appendResults(command, lines, startMachine = machine()) {
  if (process.env.NO_RESULTS === '1') return;
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const text = [`\n## ${new Date().toISOString()} — \`${command}\``, `${startMachine}, at end ${load}`, '', ...lines, ''];
  fs.appendFileSync(path.join(__dirname, 'RESULTS.md'), text.join('\n'));
}

/** `cc -O2` a C file under bench/ into a temporary binary; returns its path. */
function compileC(name) {
  const out = path.join(os.tmpdir(), `replaybook-bench-${name}-${process.pid}`);
  execFileSync(process.env.CC || 'cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, path.join(__dirname, `${name}.c`)]);
  return out;
}

// A TCP port free on loopback now, for a service a bench starts.
function freePort() {
  const net = require('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

module.exports = { median, ms, machine, appendResults, compileC, freePort };
