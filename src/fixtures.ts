// The fixture services of the canonical incident: a payment client with a timeout and the slow
// provider it calls. Both are small C programs under fixtures/, compiled on demand; the
// recorder, replayer, notebooks and tests all run these same binaries.
import { execFile, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Where the C sources live: fixtures/ under the package root (from src/ or dist/). */
export const FIXTURES_DIR = path.resolve(__dirname, '..', 'fixtures');

/** Default output directory of the compiled fixtures (gitignored). */
export const FIXTURES_BIN_DIR = path.join(FIXTURES_DIR, 'bin');

const FIXTURES = { paymentClient: 'payment-client', provider: 'provider' } as const;
const CFLAGS = ['-O2', '-Wall', '-Wextra', '-Werror'];

export interface FixturePaths {
  paymentClient: string;
  provider: string;
}

async function mtimeMs(file: string): Promise<number | null> {
  try {
    return (await fs.stat(file)).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Compiles one C file unless the binary is newer than its source; atomic against parallel builds. */
async function compile(name: string, outDir: string): Promise<string> {
  const src = path.join(FIXTURES_DIR, `${name}.c`);
  const bin = path.join(outDir, name);
  const srcTime = await mtimeMs(src);
  if (srcTime === null) throw new Error(`fixture source missing: ${src}`);
  const binTime = await mtimeMs(bin);
  if (binTime !== null && binTime >= srcTime) return bin;

  // Build to a private name, then rename: another test worker may be building the same binary.
  const tmp = `${bin}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const cc = process.env.CC || 'cc';
  try {
    await execFileP(cc, [...CFLAGS, '-o', tmp, src], { maxBuffer: 4 << 20 });
    await fs.rename(tmp, bin);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    const e = err as { stderr?: string; message: string };
    throw new Error(`compiling fixture ${name} failed: ${e.stderr?.trim() || e.message}`);
  }
  return bin;
}

const builds = new Map<string, Promise<FixturePaths>>();

/**
 * Compiles the fixture services with `cc -O2 -Wall -Wextra -Werror` into `outDir` (default
 * fixtures/bin), only when a source is newer than its binary. Returns absolute paths.
 */
export function buildFixtures(outDir: string = FIXTURES_BIN_DIR): Promise<FixturePaths> {
  const dir = path.resolve(outDir);
  let pending = builds.get(dir);
  if (!pending) {
    pending = (async () => {
      await fs.mkdir(dir, { recursive: true });
      const [paymentClient, provider] = await Promise.all([
        compile(FIXTURES.paymentClient, dir),
        compile(FIXTURES.provider, dir),
      ]);
      return { paymentClient, provider };
    })();
    builds.set(dir, pending);
    // A failed build (or a source edited later) must be retried by the next caller.
    pending.then(
      () => builds.delete(dir),
      () => builds.delete(dir),
    );
  }
  return pending;
}

export interface ProviderOptions {
  /** TCP port on 127.0.0.1; 0 or absent picks a free port. */
  port?: number;
  /** How long the provider waits after a request line before answering, in milliseconds. */
  delayMs: number;
  /** The response line (a newline is added); default `OK txn=7781 amount=19.99`. */
  response?: string;
}

export interface RunningProvider {
  port: number;
  /** Stops the provider (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
  /** Connections accepted so far. */
  connections(): number;
}

/**
 * Starts the slow payment provider on 127.0.0.1 and resolves once it is listening. It exits by
 * itself if this process dies.
 */
export async function startProvider(opts: ProviderOptions): Promise<RunningProvider> {
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port: ${opts.port}`);
  if (!Number.isInteger(opts.delayMs) || opts.delayMs < 0) throw new Error(`invalid delayMs: ${opts.delayMs}`);
  const { provider } = await buildFixtures();
  const args = [String(port), String(opts.delayMs)];
  if (opts.response !== undefined) args.push(opts.response);

  const child = spawn(provider, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let accepted = 0;
  let stderr = '';
  let pending = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const listening = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('provider did not start listening within 10 s'));
    }, 10_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`provider exited before listening (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const m = /^listening (\d+)$/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        } else if (line.startsWith('accepted ')) {
          accepted++;
        }
      }
    });
  });

  const boundPort = await listening;
  let stopping: Promise<void> | null = null;
  return {
    port: boundPort,
    connections: () => accepted,
    stop() {
      if (!stopping) {
        stopping = (async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        })();
      }
      return stopping;
    },
  };
}
