// The engine protocol at its boundary: a malformed message fails where it arrives, naming its
// type and field; a config the library encodes is the one the engine runs.
import type { RecordBatch } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { nativeAddon, ENGINE_PATH } from '../src/addon';
import { toRecordBatch } from '../src/engine/columns';
import { runEngine } from '../src/engine/engine';
import {
  FRAME_CONFIG,
  FRAME_END,
  FRAME_EXITED,
  FRAME_MESSAGE,
  PROTOCOL_VERSION,
  ProtocolError,
  decodeMessage,
  encodeConfig,
  encodeControl,
  percentDecode,
  type EngineMessage,
  type ErrorMessage,
  type ExitMessage,
} from '../src/engine/protocol';
import { delay } from '../src/inject';
import { writtenTo } from '../src/replay/outputs';

const CALL = { name: 'read', nr: 0, args: ['3', '0', '18446744073709551615', '0', '0', '0'], resource: 'file:/etc/x', data_in: 'aGk=' };

// One well-formed message of each kind the engine sends.
const GOOD: Record<string, Record<string, unknown>> = {
  started: { type: 'started', protocol: PROTOCOL_VERSION, cpu: 1, aslr: false },
  file: { type: 'file', role: 'mapped', path: '/lib/libc.so.6' },
  warning: { type: 'warning', code: 'no_netns', message: 'no namespace' },
  error: { type: 'error', code: 'spawn', message: 'no such file' },
  exit: {
    type: 'exit', exit_code: 0, signal: null, consumed: 10, log_events: 12, in_process: 7, policy: 'stream', switched_at: 4,
    injections: [{ id: 'slow', kind: 'delay', matched: 3, fired: 1 }],
  },
  spooled: { type: 'spooled', events: 8192, bytes: 123456 },
  budget: { type: 'budget', what: 'events', limit: 1000 },
  paused: { type: 'paused', reason: 'step', seq: 7 },
  state: {
    type: 'state', paused: true, seq: 7, served: 7, speed: 'max', virtual_ns: '123456789012345678', next: CALL, next_tid: 100,
    threads: [{ tid: 100, real_tid: 4242, state: 'at_syscall' }], regs: { rip: '18446744073709551615', rsp: '1' },
  },
  memory: { type: 'memory', addr: '140737488347136', error: null, data: 'AAEC' },
  gdbserver: { type: 'gdbserver', port: 40123, error: null },
  checkpoint: { type: 'checkpoint', seq: 120, count: 3, us: 850, pss_kb: 412, dropped: -1, refused: null },
  restored: { type: 'restored', restored: true, seq: 100, served: 100, reason: '' },
  policy: { type: 'policy', policy: 'stream', seq: 9, reason: 'injection slow fired' },
  unrecorded: { type: 'unrecorded', policy: 'refuse', name: 'connect', tid: 100, reason: 'not in the log' },
  divergence: { type: 'divergence', seq: 3, tid: 100, ip: '4198400', reason: 'expected read', expected: null, actual: CALL },
};

/** Copies `o` with the value at `path` (dotted, array indices as numbers) replaced or removed. */
function broken(o: Record<string, unknown>, path: (string | number)[], value: unknown): string {
  const copy = JSON.parse(JSON.stringify(o)) as Record<string, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (value === undefined) delete at[last];
  else at[last] = value;
  return JSON.stringify(copy);
}

function protocolError(text: string): ProtocolError {
  try {
    decodeMessage(text);
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return e as ProtocolError;
  }
  throw new Error(`decoded without error: ${text}`);
}

describe('decodeMessage', () => {
  it('decodes every kind of message into typed values: 64-bit values as bigint, bytes as Buffers', () => {
    for (const [type, o] of Object.entries(GOOD)) expect(decodeMessage(JSON.stringify(o)).type).toBe(type);
    const state = decodeMessage(JSON.stringify(GOOD.state));
    if (state.type !== 'state') throw new Error('not a state');
    expect(state.virtualNs).toBe(123456789012345678n);
    expect(state.speed).toBe('max');
    expect(state.next?.call.args[2]).toBe(2n ** 64n - 1n);
    expect(state.next?.call.data_in.toString()).toBe('hi');
    expect(state.registers).toEqual({ rip: 2n ** 64n - 1n, rsp: 1n });
    expect(state.threads).toEqual([{ tid: 100, realTid: 4242, state: 'at_syscall' }]);
    const exit = decodeMessage(JSON.stringify(GOOD.exit)) as ExitMessage;
    expect(exit.replay).toEqual({ consumed: 10, logEvents: 12, inProcess: 7, policy: 'stream', switchedAt: 4, injections: [{ id: 'slow', kind: 'delay', matched: 3, fired: 1 }] });
    const recorded = decodeMessage(JSON.stringify({ type: 'exit', exit_code: null, signal: 'SIGKILL' })) as ExitMessage;
    expect(recorded).toEqual({ type: 'exit', exitCode: null, signal: 'SIGKILL', replay: null });
    const memory = decodeMessage(JSON.stringify(GOOD.memory));
    expect(memory.type === 'memory' && [...memory.data]).toEqual([0, 1, 2]);
  });

  // [message type, path to the field, bad value (undefined: removed), the field the error names]
  const cases: [string, (string | number)[], unknown, string][] = [
    ['started', ['cpu'], undefined, 'cpu'],
    ['started', ['protocol'], PROTOCOL_VERSION + 1, 'protocol'],
    ['file', ['path'], 7, 'path'],
    ['warning', ['message'], null, 'message'],
    ['error', ['code'], undefined, 'code'],
    ['exit', ['exit_code'], '0', 'exit_code'],
    ['exit', ['policy'], 'loose', 'policy'],
    ['exit', ['injections', 0, 'fired'], '1', 'injections[0].fired'],
    ['paused', ['reason'], 'tired', 'reason'],
    ['paused', ['seq'], 1.5, 'seq'],
    ['gdbserver', ['port'], '40123', 'port'],
    ['checkpoint', ['refused'], 7, 'refused'],
    ['restored', ['restored'], 'yes', 'restored'],
    ['state', ['virtual_ns'], 12, 'virtual_ns'],
    ['state', ['speed'], 'fast', 'speed'],
    ['state', ['threads', 0, 'state'], 'asleep', 'threads[0].state'],
    ['state', ['next', 'args', 2], 'x', 'next.args[2]'],
    ['state', ['regs', 'rip'], 5, 'regs.rip'],
    ['state', ['next_tid'], undefined, 'next_tid'],
    ['memory', ['data'], 'not base64!', 'data'],
    ['memory', ['addr'], undefined, 'addr'],
    ['policy', ['seq'], undefined, 'seq'],
    ['unrecorded', ['policy'], 'ignore', 'policy'],
    ['unrecorded', ['tid'], '100', 'tid'],
    ['divergence', ['ip'], 4198400, 'ip'],
    ['divergence', ['actual', 'args'], ['1', '2'], 'actual.args'],
    ['divergence', ['actual', 'data_in'], undefined, 'actual.data_in'],
    ['divergence', ['expected'], 'read', 'expected'],
  ];
  for (const [type, path, value, field] of cases) {
    it(`${type}: a bad ${field} fails naming '${type}' and '${field}'`, () => {
      const e = protocolError(broken(GOOD[type], path, value));
      expect(e.messageType).toBe(type);
      expect(e.field).toBe(field);
      expect(e.message).toContain(`engine message '${type}': ${field} `);
    });
  }

  it('refuses text that is not a message: not JSON, no type, an unknown type', () => {
    expect(protocolError('{"type":').field).toBe('json');
    expect(protocolError('[1]').field).toBe('message');
    expect(protocolError('{"cpu":1}').field).toBe('type');
    const e = protocolError('{"type":"teleported"}');
    expect([e.messageType, e.field]).toEqual(['teleported', 'type']);
  });
});

describe('encodeConfig and encodeControl', () => {
  it('starts with the protocol version; every value is one printable word that decodes back', () => {
    const text = encodeConfig({ mode: 'record', exe: '/bin/ech o', argv: ['a b', 'héllo 100%', ''], env: ['X=1\n2'], cwd: '/', pin: false });
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe(`version ${PROTOCOL_VERSION}`);
    for (const l of lines) for (const w of l.split(' ')) expect(w).toMatch(/^[\x21-\x7e]*$/);
    expect(lines.filter((l) => l.startsWith('arg ')).map((l) => percentDecode(l.slice(4)))).toEqual(['a b', 'héllo 100%', '']);
  });

  it('refuses values the engine would misread before anything is sent', () => {
    expect(() => encodeConfig({ mode: 'replay', exe: '/bin/true', argv: ['true'], env: [], cwd: '/', pin: true, speed: -1 })).toThrow(/speed/);
    expect(() => encodeControl({ verb: 'speed', speed: Number.NaN })).toThrow(/speed/);
    expect(() => encodeControl({ verb: 'step', n: Number.NaN })).toThrow(/step/);
    expect(encodeControl({ verb: 'step', n: 0 })).toBe('step 1');
    expect(encodeControl({ verb: 'read', tid: 7, addr: 2n ** 63n, length: 16 })).toBe(`read 7 ${2n ** 63n} 16`);
    expect(encodeControl({ verb: 'gdbserver', port: 0 })).toBe('gdbserver 0');
    expect(encodeControl({ verb: 'goto', seq: 42 })).toBe('goto 42');
    expect(encodeControl({ verb: 'injections', injections: [] })).toBe('injections');
    expect(encodeControl({ verb: 'injections', injections: [delay('read', 5, { when: 2 })] })).toMatch(/^injections\ninject \S+ delay syscalls=read .*when=2,2,1.*enter_us=5 exit_us=0$/);
    expect(() => encodeControl({ verb: 'gdbserver', port: 70000 })).toThrow(/port/);
  });
});

// Runs the engine with a raw config frame and returns its messages.
function rawEngine(config: string): Promise<EngineMessage[]> {
  const native = nativeAddon();
  const messages: EngineMessage[] = [];
  return new Promise((resolve, reject) => {
    const handle = native.spawnEngine(ENGINE_PATH, (type, data) => {
      try {
        if (type === FRAME_MESSAGE && data) messages.push(decodeMessage(Buffer.from(data).toString('utf8')));
        if (type === FRAME_EXITED) resolve(messages);
      } catch (e) {
        reject(e as Error);
      }
    });
    native.writeFrame(handle.input, FRAME_CONFIG, Buffer.from(config, 'utf8'));
    native.writeFrame(handle.input, FRAME_END, new Uint8Array(0), true);
  });
}

describe('the engine reads what the library writes', () => {
  it('records echo with arguments holding spaces, UTF-8, % and an empty one, and replays it with an injection whose id has all three', async () => {
    const argv = ['echo', 'a  b', 'héllo 100%', '', 'end'];
    const batches: RecordBatch[] = [];
    const files = new Map<string, string>();
    const rec = await runEngine({
      mode: 'record', exe: '/bin/echo', argv, env: ['PATH=/usr/bin:/bin', 'LC_ALL=C'], cwd: '/', pin: true,
      lateData: { enabled: false },
      onEvents: (c) => batches.push(toRecordBatch(c, 'protocol', 'recording')),
      onMessage: (m) => {
        if (m.type === 'file') files.set(m.path, m.path);
      },
    });
    expect(rec.messages.filter((m) => m.type === 'error')).toEqual([]);
    expect(rec.messages.find((m) => m.type === 'started')).toMatchObject({ protocol: PROTOCOL_VERSION });
    expect(writtenTo(batches, 'stdout').toString('utf8')).toBe('a  b héllo 100%  end\n');

    const slow = { ...delay('write', 1), id: 'slow wrîte 100%' };
    const run = await runEngine({
      mode: 'replay', exe: '/bin/echo', argv, env: ['PATH=/usr/bin:/bin', 'LC_ALL=C'], cwd: '/', pin: true, speed: 'max', files,
      injections: [slow], input: batches, onEvents: () => undefined,
    });
    const errors = run.messages.filter((m): m is ErrorMessage => m.type === 'error');
    expect(errors).toEqual([]);
    const exit = run.messages.find((m): m is ExitMessage => m.type === 'exit');
    expect(exit?.exitCode).toBe(0);
    expect(exit?.replay?.injections.map((i) => [i.id, i.kind])).toEqual([['slow wrîte 100%', 'delay']]);
    expect(exit?.replay?.injections[0].fired).toBeGreaterThan(0);
  });

  it('refuses a config without a protocol version, or with another one, saying to rebuild', async () => {
    const body = 'mode record\nexe /bin/true\narg true\ncwd /\npin 0\n';
    for (const config of [body, `version ${PROTOCOL_VERSION + 1}\n${body}`]) {
      const messages = await rawEngine(config);
      expect(messages).toHaveLength(1);
      const m = messages[0];
      expect(m.type === 'error' && m.code).toBe('protocol');
      expect(m.type === 'error' && m.message).toMatch(/protocol.*rebuild/);
    }
  });

  it('names the key of a bad config value instead of running with a zero', async () => {
    const messages = await rawEngine(`version ${PROTOCOL_VERSION}\nmode replay\nexe /bin/true\narg true\ncwd /\npin 0\nspeed fast\n`);
    expect(messages).toEqual([{ type: 'error', code: 'protocol', message: "speed needs a positive number or max, not 'fast'" }]);
  });
});
