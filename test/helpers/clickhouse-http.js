// A test endpoint that speaks ClickHouse's HTTP interface and executes every statement in the
// ClickHouse engine through chDB, on its own data directory. It is not a ClickHouse server: no
// modern server can be installed on these machines, so this is what the server store's
// @clickhouse/client path is tested against. What it implements of the interface:
//
// - the query in the body, or in `?query=` with the body as the INSERT's data (an INSERT with a
//   body runs as the same statement reading a temporary file: `input(structure)` becomes
//   `file(tmp, format, structure)`, chDB having no request body to read);
// - `param_*` query parameters (bound by the engine: `SET param_x = '<text as sent>'`), every other
//   URL parameter as a setting (`SET name = value`, so unknown settings fail as on a server),
//   `database`, `default_format`, `query_id`;
// - gzip/deflate request bodies (Content-Encoding) and gzip responses when
//   `enable_http_compression=1` and the client accepts them;
// - users: Basic auth, X-ClickHouse-User/-Key or user/password parameters, checked against
//   --user/--password (AUTHENTICATION_FAILED, HTTP 401, otherwise);
// - X-ClickHouse-Query-Id, -Format, -Timezone, -Summary, -Server-Display-Name headers, and
//   X-ClickHouse-Exception-Code with a status mapped from the error code when a query fails before
//   the body started;
// - an exception after the body started, written the way a given ClickHouse release does
//   (--exception-format plain: `Code: ...` appended, before 24.x; block: an `__exception__` line
//   then the text, 24.x-25.10; tagged: the block framed by the X-ClickHouse-Exception-Tag header
//   sent on every response, 25.11 and later);
// - ArrowStream results streamed as ONE Arrow stream (chDB streams a complete stream per block;
//   the schema of later blocks and their end markers are dropped, as a server writes it).
//
// Faults for tests, set with POST /__test/fault {match, kind, afterBytes, format}: the next
// request whose query matches `match` (a regular expression) gets, after `afterBytes` bytes of its
// body: `exception` (as above), `drop` (the connection is destroyed), `stall` (no more bytes,
// never ends); or for an INSERT with a body, `partial-insert`: only the first `afterBatches` record
// batches are inserted, then the connection is destroyed (a server that wrote some blocks of an
// insert and then lost the client).
//
// Run: node clickhouse-http.js --data DIR [--user U --password P] [--exception-format F]
// It prints one JSON line {"port": N} once it listens on 127.0.0.1.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const crypto = require('node:crypto');
require('./load-ts');
const { Session } = require('chdb');
const { ipcMessages, MessageKind, END_OF_STREAM } = require(path.join(__dirname, '../../src/store/ipc-frames.ts'));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const dataDir = opt('data');
const config = {
  user: opt('user', 'default'),
  password: opt('password', ''),
  exceptionFormat: opt('exception-format', 'tagged'),
};
if (!dataDir) throw new Error('--data DIR is required');
fs.mkdirSync(dataDir, { recursive: true });
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-ch-http-'));

// Held for the process's life, so that each request's own session opens at once.
const anchor = new Session(dataDir);
let version = '';
const faults = [];

/** Names that are part of the HTTP interface, not settings. */
const NOT_SETTINGS = new Set(['query', 'database', 'default_format', 'user', 'password', 'query_id', 'session_id', 'session_timeout', 'session_check', 'compress', 'decompress', 'quota_key', 'role']);

const literal = (v) => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const identifier = (v) => `\`${String(v).replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;

class HttpError extends Error {
  constructor(message, code) {
    super(message);
    this.clickhouseCode = code;
  }
}

function statusOf(code) {
  if (code === 516 || code === 192 || code === 193 || code === 194) return 401;
  if (code === 81 || code === 60) return 404;
  if (code === 62 || code === 27 || code === 115 || code === 130 || code === 456 || code === 457) return 400;
  return 500;
}

function codeOf(err) {
  if (err && typeof err.clickhouseCode === 'number') return err.clickhouseCode;
  const m = /Code: (\d+)/.exec(String(err && err.message));
  return m ? Number(m[1]) : 1002;
}

function exceptionText(err) {
  const text = String(err.message || err);
  return /^Code: \d+/.test(text) ? text : `Code: ${codeOf(err)}. DB::Exception: ${text}. (version ${version})`;
}

/** The request body, decompressed as its Content-Encoding says. */
function bodyStream(req) {
  const enc = (req.headers['content-encoding'] || '').toLowerCase();
  if (enc === 'gzip') return req.pipe(zlib.createGunzip());
  if (enc === 'deflate') return req.pipe(zlib.createInflate());
  if (enc === 'br') return req.pipe(zlib.createBrotliDecompress());
  if (enc) throw new HttpError(`Unknown Content-Encoding: ${enc}`, 1002);
  return req;
}

async function readBody(req) {
  const chunks = [];
  for await (const c of bodyStream(req)) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Streams the request body (an INSERT's data) to a file; returns its size. */
async function bodyToFile(req, file) {
  const out = fs.createWriteStream(file);
  let size = 0;
  for await (const c of bodyStream(req)) {
    size += c.length;
    if (!out.write(c)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
  return size;
}

function credentials(req, url) {
  const auth = req.headers.authorization;
  if (auth && auth.startsWith('Basic ')) {
    const [user, ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
    return { user, password: rest.join(':') };
  }
  if (req.headers['x-clickhouse-user']) return { user: req.headers['x-clickhouse-user'], password: req.headers['x-clickhouse-key'] || '' };
  return { user: url.searchParams.get('user') || 'default', password: url.searchParams.get('password') || '' };
}

/** The statement as chDB must run it, reading the INSERT's body from `file`. */
function withBody(query, file) {
  const m = /\bFORMAT\s+(\w+)\s*$/i.exec(query);
  if (!m) throw new HttpError('An INSERT with data in the body needs a FORMAT clause', 62);
  const format = m[1];
  let statement = query.slice(0, m.index).trimEnd();
  if (/\binput\s*\(/i.test(statement)) {
    statement = statement.replace(/\binput\s*\(\s*('(?:[^'\\]|\\.)*')\s*\)/i, (_all, structure) => `file(${literal(file)}, ${literal(format)}, ${structure})`);
  } else {
    statement = `${statement} SELECT * FROM file(${literal(file)}, ${literal(format)})`;
  }
  return statement;
}

/** Keeps an ArrowStream body one stream: the first schema, every batch, one end marker at the end. */
async function* oneArrowStream(chunks) {
  let schemaSent = false;
  async function* bytes() {
    for await (const chunk of chunks) yield chunk.raw();
  }
  for await (const m of ipcMessages(bytes())) {
    if (m.kind === MessageKind.EndOfStream) continue;
    if (m.kind === MessageKind.Schema) {
      if (schemaSent) continue;
      schemaSent = true;
    }
    yield m.bytes;
  }
  yield END_OF_STREAM;
}

async function* rawChunks(chunks) {
  for await (const chunk of chunks) yield chunk.raw();
}

function takeFault(query) {
  const i = faults.findIndex((f) => new RegExp(f.match).test(query));
  if (i < 0) return null;
  return faults.splice(i, 1)[0];
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/__test/fault') {
    faults.push(JSON.parse((await readBody(req)).toString('utf8')));
    res.end('ok\n');
    return;
  }
  if (url.pathname === '/__test/config') {
    Object.assign(config, JSON.parse((await readBody(req)).toString('utf8')));
    res.end('ok\n');
    return;
  }
  if (url.pathname === '/ping') {
    res.end('Ok.\n');
    return;
  }
  const queryId = url.searchParams.get('query_id') || crypto.randomUUID();
  const tag = config.exceptionFormat === 'tagged' ? crypto.randomBytes(8).toString('hex') : null;
  let session = null;
  let tmpFile = null;
  let headersSent = false;
  let out = res;
  const baseHeaders = {
    'X-ClickHouse-Query-Id': queryId,
    'X-ClickHouse-Timezone': 'UTC',
    'X-ClickHouse-Server-Display-Name': 'replaybook-test-endpoint',
    ...(tag ? { 'X-ClickHouse-Exception-Tag': tag } : {}),
  };
  let query = '';
  try {
    const { user, password } = credentials(req, url);
    if (user !== config.user || password !== config.password) {
      throw new HttpError(`${user}: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)`, 516);
    }
    const inUrl = url.searchParams.get('query');
    let data = false;
    if (inUrl !== null) {
      query = inUrl;
      tmpFile = path.join(tmpDir, `body-${crypto.randomBytes(6).toString('hex')}`);
      data = (await bodyToFile(req, tmpFile)) > 0;
    } else {
      query = (await readBody(req)).toString('utf8');
    }
    const fault = takeFault(query);

    session = new Session(dataDir);
    const database = url.searchParams.get('database');
    if (database) await session.queryAsync(`USE ${identifier(database)}`);
    for (const [name, value] of url.searchParams) {
      if (name.startsWith('param_')) await session.queryAsync(`SET ${identifier(name)} = ${literal(value)}`);
      else if (!NOT_SETTINGS.has(name)) await session.queryAsync(`SET ${identifier(name)} = ${literal(value)}`);
    }
    const compress = url.searchParams.get('enable_http_compression') === '1' && /\bgzip\b/.test(req.headers['accept-encoding'] || '');
    const formatMatch = /\bFORMAT\s+(\w+)\s*$/i.exec(query);
    const format = formatMatch ? formatMatch[1] : url.searchParams.get('default_format') || 'TabSeparated';

    const start = (summary) => {
      headersSent = true;
      res.writeHead(200, {
        ...baseHeaders,
        'X-ClickHouse-Format': format,
        'X-ClickHouse-Summary': JSON.stringify(summary || { read_rows: '0', read_bytes: '0', written_rows: '0', written_bytes: '0' }),
        'Content-Type': format === 'ArrowStream' ? 'application/octet-stream' : 'text/plain; charset=UTF-8',
        ...(compress ? { 'Content-Encoding': 'gzip' } : {}),
      });
      if (compress) {
        // ClickHouse's default http_zlib_compression_level is 3.
        const level = Number(url.searchParams.get('http_zlib_compression_level') || 3);
        out = zlib.createGzip({ level, flush: zlib.constants.Z_SYNC_FLUSH });
        out.pipe(res);
      }
    };

    if (data) {
      const statement = withBody(query, tmpFile);
      const file = tmpFile;
      if (fault && fault.kind === 'partial-insert') {
        // Keep the schema and the first afterBatches batches, as if the rest never arrived.
        const kept = [];
        let batches = 0;
        for await (const m of ipcMessages([fs.readFileSync(file)])) {
          if (m.kind === MessageKind.RecordBatch && batches++ >= (fault.afterBatches || 0)) break;
          if (m.kind !== MessageKind.EndOfStream) kept.push(m.bytes);
        }
        kept.push(END_OF_STREAM);
        fs.writeFileSync(file, Buffer.concat(kept));
        await session.queryAsync(statement);
        req.socket.destroy();
        return;
      }
      const result = await session.queryAsync(statement);
      start({ written_rows: String(result.rowsRead ?? 0) });
      out.end();
      return;
    }

    const streamed = /^\s*(SELECT|WITH)\b/i.test(query);
    let source;
    if (streamed) {
      const statement = formatMatch ? query.slice(0, formatMatch.index) : query;
      const chunks = session.queryStream(statement, { format });
      source = format === 'ArrowStream' ? oneArrowStream(chunks) : rawChunks(chunks);
    } else {
      const result = await session.queryAsync(query, { format });
      source = [result.bytes()];
    }

    let sent = 0;
    const iterator = source[Symbol.asyncIterator] ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
    for (;;) {
      let next;
      try {
        next = await iterator.next();
      } catch (err) {
        if (!headersSent) throw err;
        writeException(out, err, tag);
        out.end();
        return;
      }
      if (next.done) break;
      let chunk = Buffer.from(next.value);
      if (!headersSent) start();
      if (fault && sent + chunk.length >= (fault.afterBytes || 0)) {
        const cut = Math.max(0, (fault.afterBytes || 0) - sent);
        if (cut > 0) await write(out, chunk.subarray(0, cut));
        if (compress) await new Promise((r) => out.flush(r));
        if (fault.kind === 'exception') {
          writeException(out, new HttpError(fault.message || "Value passed to 'throwIf' function is non-zero (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)", 395), tag, fault.format);
          out.end();
        } else if (fault.kind === 'drop') {
          setTimeout(() => req.socket.destroy(), 20);
        }
        // 'stall': nothing more, ever (the client gives up)
        if (iterator.return) await iterator.return();
        return;
      }
      sent += chunk.length;
      await write(out, chunk);
    }
    if (!headersSent) start();
    out.end();
  } catch (err) {
    if (!headersSent) {
      const code = codeOf(err);
      res.writeHead(statusOf(code), { ...baseHeaders, 'X-ClickHouse-Exception-Code': String(code), 'Content-Type': 'text/plain; charset=UTF-8' });
      res.end(`${exceptionText(err)}\n`);
    } else {
      writeException(out, err, tag);
      out.end();
    }
  } finally {
    if (session) session.close();
    if (tmpFile) fs.rmSync(tmpFile, { force: true });
  }
}

function write(out, chunk) {
  return new Promise((resolve) => {
    if (out.write(chunk)) resolve();
    else out.once('drain', resolve);
  });
}

function writeException(out, err, tag, format = config.exceptionFormat) {
  const text = exceptionText(err);
  if (format === 'plain') out.write(`${text}\n`);
  else if (format === 'block' || !tag) out.write(`\r\n__exception__\r\n${text}\n`);
  else out.write(`\r\n__exception__\r\n${tag}\r\n${text}\n${Buffer.byteLength(text) + 1} ${tag}\r\n__exception__\r\n`);
}

async function main() {
  version = (await anchor.queryAsync('SELECT version()', { format: 'TabSeparated' })).text().trim();
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      process.stderr.write(`clickhouse-http: ${err.stack || err}\n`);
      res.destroy();
    });
  });
  server.listen(Number(opt('port', 0)), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port, version })}\n`);
  });
  const stop = () => {
    server.close();
    anchor.close();
    fs.rmSync(tmpDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`clickhouse-http: ${err.stack || err}\n`);
  process.exit(1);
});
