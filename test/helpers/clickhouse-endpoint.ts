// Starts test/helpers/clickhouse-http.js (ClickHouse's HTTP interface over chDB, in a process of
// its own: chDB allows one data directory per process, and the tests' own stores have theirs).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

export interface Fault {
  /** Regular expression over the query text. */
  match: string;
  kind: 'exception' | 'drop' | 'stall' | 'partial-insert';
  afterBytes?: number;
  afterBatches?: number;
  message?: string;
}

export interface Endpoint {
  port: number;
  /** The engine's version (chDB's ClickHouse). */
  version: string;
  /** http://127.0.0.1:PORT */
  origin: string;
  /** The next request whose query matches gets this fault. */
  fault(f: Fault): Promise<void>;
  /** How exceptions after the body started are written: 'plain' | 'block' | 'tagged'. */
  exceptionFormat(format: 'plain' | 'block' | 'tagged'): Promise<void>;
  stop(): Promise<void>;
}

export async function startEndpoint(options: { user?: string; password?: string } = {}): Promise<Endpoint> {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-ch-endpoint-'));
  const args = [path.join(__dirname, 'clickhouse-http.js'), '--data', data];
  if (options.user) args.push('--user', options.user);
  if (options.password) args.push('--password', options.password);
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const first = await new Promise<string>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the ClickHouse test endpoint exited (${code}): ${stderr}`)));
  });
  const { port, version } = JSON.parse(first) as { port: number; version: string };
  const origin = `http://127.0.0.1:${port}`;
  const post = async (p: string, body: unknown) => {
    const r = await fetch(`${origin}${p}`, { method: 'POST', body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`${p}: ${r.status}`);
  };
  return {
    port,
    version,
    origin,
    fault: (f) => post('/__test/fault', f),
    exceptionFormat: (format) => post('/__test/config', { exceptionFormat: format }),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(data, { recursive: true, force: true });
    },
  };
}

export { freePort } from './net';
