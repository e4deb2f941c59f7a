// Before the first query, one GET /ping to the server with its own connect and read timeouts: a
// host that never completes the TCP handshake, a server that accepts and never answers, and a URL
// that is not a ClickHouse HTTP interface (a 404 with an empty body) each get a message saying
// which, in seconds, instead of a request that hangs for the whole query timeout or fails with no
// reason. ClickHouse answers /ping with "Ok." without authentication, in every release.
import * as http from 'node:http';
import * as https from 'node:https';
import { StoreError } from './errors';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_PING_TIMEOUT_MS = 15_000;

export interface ProbeOptions {
  connectTimeoutMs: number;
  readTimeoutMs: number;
  /** Where the server is, for messages (no credentials). */
  location: string;
}

export function probeServer(origin: string, o: ProbeOptions): Promise<void> {
  const url = new URL('/ping', origin);
  const get = url.protocol === 'https:' ? https.get : http.get;
  const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const done = (err?: StoreError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      if (err) reject(err);
      else resolve();
    };
    const arm = (ms: number, err: () => StoreError) => {
      clearTimeout(timer);
      timer = setTimeout(() => done(err()), ms);
    };
    const req = get(url, { agent: false, headers: { 'User-Agent': 'replaybook' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (chunks.reduce((n, b) => n + b.length, 0) < 4096) chunks.push(c);
      });
      res.on('error', () => undefined);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return done();
        const body = Buffer.concat(chunks).toString('utf8').trim().split('\n')[0].slice(0, 160);
        done(
          new StoreError(
            'unreachable',
            `The server at ${o.location} answered HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''} to GET /ping` +
              `${body ? ` (${body})` : ' with an empty body'}: it is not a ClickHouse HTTP interface, or a proxy in front of it ` +
              `refuses the request. Check the URL (host and port of ClickHouse's HTTP interface, usually 8123).`,
            o.location,
          ),
        );
      });
    });
    req.on('error', (err) => {
      if (!settled) reject(err); // the store maps refused, unknown host... to its own messages
      settled = true;
      clearTimeout(timer);
    });
    arm(o.connectTimeoutMs, () =>
      new StoreError(
        'timeout',
        `Cannot connect to the ClickHouse server at ${o.location}: no TCP connection within ${seconds(o.connectTimeoutMs)} ` +
          `(connect timeout). Check the host and port, and that no firewall drops the packets.`,
        o.location,
      ),
    );
    req.on('socket', (socket) => {
      const connected = () =>
        arm(o.readTimeoutMs, () =>
          new StoreError(
            'timeout',
            `The server at ${o.location} accepted the connection but did not answer GET /ping within ` +
              `${seconds(o.readTimeoutMs)} (read timeout). It may be hung or not an HTTP server; check it, or the URL.`,
            o.location,
          ),
        );
      if (socket.connecting) socket.once('connect', connected);
      else connected();
    });
  });
}
