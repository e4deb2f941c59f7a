// A real ClickHouse server too old for replaybook: Debian's clickhouse-server 18.16, started here
// on 127.0.0.1 with a temporary configuration and data directory. The server store must refuse it
// with a message naming the version it found and the one it needs, not with a syntax error.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError, openServerStore } from '../src/store';
import { MIN_SERVER_VERSION } from '../src/store/sql';
import { freePort } from './helpers/clickhouse-endpoint';

const SERVER = '/usr/sbin/clickhouse-server';

let dir: string;
let server: ChildProcess | null = null;
let origin = '';

async function get(query: string, params: Record<string, string> = {}): Promise<string> {
  const url = new URL(origin);
  url.searchParams.set('query', query);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return (await fetch(url)).text();
}

beforeAll(async () => {
  if (!fs.existsSync(SERVER)) {
    throw new Error(`${SERVER} is missing: run scripts/install-system-deps.sh (it installs Debian's clickhouse-server)`);
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-ch18-'));
  const [http, tcp] = [await freePort(), await freePort()];
  fs.writeFileSync(
    path.join(dir, 'users.xml'),
    `<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
`,
  );
  fs.writeFileSync(
    path.join(dir, 'config.xml'),
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/server.err.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
</yandex>
`,
  );
  server = spawn(SERVER, [`--config-file=${path.join(dir, 'config.xml')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  server.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  server.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  origin = `http://127.0.0.1:${http}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`clickhouse-server exited (${server.exitCode}): ${output}`);
    const ok = await fetch(`${origin}/ping`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`clickhouse-server did not answer on ${origin} within 30 s: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 60_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    const killed = setTimeout(() => server!.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killed);
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("Debian's clickhouse-server 18.16", () => {
  it('is a real server on loopback that lacks ArrowStream and query parameters', async () => {
    expect((await get('SELECT version()')).trim()).toMatch(/^18\.16\./);
    expect(await get('SELECT 1 FORMAT ArrowStream')).toMatch(/Unknown format ArrowStream/);
    expect(await get('SELECT {p:String}', { param_p: 'x' })).toMatch(/Unknown setting param_p/);
  });

  it('is refused by the server store with the version it runs and the one replaybook needs', async () => {
    const err = await openServerStore({ url: `${origin}/replaybook`, blobCacheHome: dir }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('too-old');
    expect((err as StoreError).message).toMatch(
      new RegExp(`^The ClickHouse server at ${origin}/replaybook runs version 18\\.16\\.[\\d.]+; replaybook needs ClickHouse ${MIN_SERVER_VERSION.replace('.', '\\.')} or newer`),
    );
    // Nothing was created on the refused server.
    expect((await get("SELECT count() FROM system.databases WHERE name = 'replaybook'")).trim()).toBe('0');
  });
});
