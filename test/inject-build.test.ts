// Builders, plain-data round trips, descriptions, and the engine's config lines.
import { describe, expect, it } from 'vitest';
import {
  InjectionSpecError,
  delay,
  describeInjection,
  fail,
  globMatch,
  injectionFromJSON,
  latency,
  parseInjection,
  signal,
  timeout,
  whenHits,
  type Injection,
} from '../src/inject';
import { injectionLines, percentDecode } from '../src/engine/protocol';

function builderError(f: () => unknown): InjectionSpecError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InjectionSpecError);
    return e as InjectionSpecError;
  }
  throw new Error('accepted');
}

describe('builders', () => {
  it('make what the CLI forms make', () => {
    expect(fail('connect', 'ECONNREFUSED', { resource: 'tcp:*:9000' })).toEqual(parseInjection('--inject', 'connect:error=ECONNREFUSED:resource=tcp:*:9000')[0]);
    expect(fail('read', 'EIO', { when: 3 })).toEqual(parseInjection('--inject', 'read:error=EIO:when=3')[0]);
    expect(fail('read', 5, { when: '3' })).toEqual(parseInjection('--inject', 'read:error=EIO:when=3')[0]);
    expect(fail('read', { retval: 0 }, { fd: 3, when: { first: 1, last: 3, step: 1 } })).toEqual(parseInjection('--inject', 'read:retval=0:fd=3:when=1..3')[0]);
    expect(delay('poll', { enterUs: 500000 })).toEqual(parseInjection('--inject', 'poll:delay_enter=500000')[0]);
    expect(delay('poll', 500000)).toEqual(delay('poll', { enterUs: 500000 }));
    expect(delay('poll', '500ms')).toEqual(delay('poll', { enterUs: 500000 }));
    expect(delay('recvfrom', { exitUs: '1s', enterUs: 2000, when: '2+2' })).toEqual(parseInjection('--inject', 'recvfrom:delay_enter=2ms:delay_exit=1s:when=2+2')[0]);
    expect(latency('tcp:*:9000', 3_000_000)).toEqual(parseInjection('--latency', 'tcp:*:9000=3000000')[0]);
    expect(latency('tcp:*:9000', '3s')).toEqual(latency('tcp:*:9000', 3_000_000));
    expect(timeout('env:PAYMENT_TIMEOUT_MS', 5000)).toEqual(parseInjection('--timeout', 'env:PAYMENT_TIMEOUT_MS=5000')[0]);
    expect(timeout('arg:--max-time', 5)).toEqual(parseInjection('--timeout', 'arg:--max-time=5')[0]);
    expect(timeout('file:/etc/app.conf#timeout_ms', 5000)).toEqual(parseInjection('--timeout', 'file:/etc/app.conf#timeout_ms=5000')[0]);
    expect(timeout({ type: 'file', path: '/etc/app.conf', key: 'timeout_ms' }, '5000')).toEqual(timeout('file:/etc/app.conf#timeout_ms', 5000));
    expect(timeout('syscall:poll', 5000)).toEqual(parseInjection('--timeout', 'syscall:poll=5000')[0]);
    expect(timeout('syscall:poll', 5, { unit: 's' })).toMatchObject({ value: '5', unit: 's', us: 5_000_000 });
    expect(timeout('syscall:poll', -1)).toMatchObject({ value: '-1', us: -1 });
    expect(signal('read', 'SIGUSR1', { when: 2 })).toEqual(parseInjection('--inject', 'read:signal=SIGUSR1:when=2')[0]);
    expect(fail('openat', 'EACCES', { flags: '&0x80000', args: { arg1: -100n }, pid: 7, tid: 8 })).toEqual(
      parseInjection('--inject', 'openat:flags=&0x80000:arg1=-100:pid=7:tid=8:error=EACCES')[0],
    );
  });

  it('take a label as the id', () => {
    expect(fail('connect', 'ECONNREFUSED', { label: 'provider-down' }).id).toBe('provider-down');
    expect(timeout('env:X', 1, { label: 'longer' }).id).toBe('longer');
    expect(latency('tcp:*:9000', 1, { label: 'slow' }).id).toBe('slow');
  });

  it('file targets with a # in the path are possible through the object form', () => {
    const t = timeout({ type: 'file', path: '/srv/a#b/app.ini', key: 'net.timeout' }, '5s');
    expect(t.target).toEqual({ type: 'file', path: '/srv/a#b/app.ini', key: 'net.timeout' });
    expect(t.value).toBe('5s');
    expect(t.us).toBeNull(); // not a plain number
  });

  it('reject what the parser rejects, naming the call', () => {
    expect(builderError(() => fail('connect', 'ECONNREFUSE', { resource: 'tcp:*:9000' })).message).toBe(
      "fail('connect', 'ECONNREFUSE', { resource: 'tcp:*:9000' }): unknown errno 'ECONNREFUSE'; did you mean ECONNREFUSED?",
    );
    const e = builderError(() => fail('reed', 'EIO'));
    expect(e.column).toBeNull();
    expect(e.hint).toBe('read');
    expect(builderError(() => delay('poll', { enterUs: 5, wehn: 3 } as never)).reason).toBe("unknown option 'wehn' (when, pid, tid, resource, fd, flags, args, label)");
    expect(builderError(() => delay('poll', {})).reason).toMatch(/enterUs, exitUs or both/);
    expect(builderError(() => delay('poll', -5)).reason).toMatch(/not a duration/);
    expect(builderError(() => delay('poll', 0.5)).reason).toMatch(/whole number of microseconds/);
    expect(builderError(() => fail('read', 'EIO', { when: 0 })).reason).toMatch(/at least 1/);
    expect(builderError(() => fail('read', 'EIO', { when: { first: 5, last: 3, step: 1 } })).reason).toMatch(/last must be/);
    expect(builderError(() => fail('read', 'EIO', { when: '5..3' })).reason).toMatch(/before first/);
    expect(builderError(() => fail('read', 'EIO', { fd: 1.5 })).reason).toMatch(/not an integer/);
    expect(builderError(() => fail('read', 'EIO', { flags: 1 })).reason).toMatch(/no flags argument/);
    expect(builderError(() => fail('read', 'EIO', { args: { arg9: 1 } as never })).reason).toMatch(/unknown argument 'arg9'/);
    expect(builderError(() => fail('read', 'EIO', { resource: 'tcp:x' })).reason).toMatch(/host:port/);
    expect(builderError(() => fail('read', 'EIO', { pid: -1 })).reason).toMatch(/bad pid/);
    expect(builderError(() => fail('read', 'EIO', { label: 'a b' })).reason).toMatch(/bad label/);
    expect(builderError(() => fail('read', 0)).reason).toMatch(/out of range/);
    expect(builderError(() => fail('read', { retval: -1 })).reason).toMatch(/bad number/);
    expect(builderError(() => fail('mprotect', 'ENOMEM')).reason).toMatch(/untraced/);
    expect(builderError(() => signal('read', 'SIGFOO')).reason).toMatch(/unknown signal/);
    expect(builderError(() => latency('tcp:*:9000', 'soon')).reason).toMatch(/bad number/);
    expect(builderError(() => timeout('env:1X', 5)).reason).toMatch(/bad variable name/);
    expect(builderError(() => timeout('arg:max', 5)).reason).toMatch(/bad flag/);
    expect(builderError(() => timeout('file:/etc/app.conf', 5)).reason).toMatch(/no '#key'/);
    expect(builderError(() => timeout('syscall:read', 5)).reason).toMatch(/has no timeout/);
    expect(builderError(() => timeout('syscall:poll', 'soon')).reason).toMatch(/bad number/);
    expect(builderError(() => timeout('env:X', 5, { unit: 'h' as never })).reason).toMatch(/unit/);
    expect(builderError(() => timeout('env:X', '')).reason).toMatch(/no value/);
    expect(builderError(() => timeout('nope', 5)).reason).toMatch(/unknown timeout target/);
  });
});

const samples = (): Injection[] => [
  fail('connect', 'ECONNREFUSED', { resource: 'tcp:*:9000', when: '3..11+2' }),
  fail('read', { retval: 0 }, { fd: 3 }),
  fail('openat', 'EACCES', { flags: '&0x80000', args: { arg1: -100 }, pid: 12, tid: 13 }),
  delay('poll', { enterUs: 500000, exitUs: 10 }),
  signal('%network', 'SIGRTMIN+1', { when: '2+' }),
  latency('tcp:*:9000', 3_000_000),
  timeout('env:PAYMENT_TIMEOUT_MS', 5000),
  timeout('arg:--max-time', 5),
  timeout('file:/etc/app.conf#timeout_ms', 5000),
  timeout('syscall:poll', 5000),
  timeout('syscall:SO_RCVTIMEO', -1, { label: 'no-rcv-timeout' }),
  ...parseInjection('--inject', 'read:error=EIO:delay_enter=100:label=both'),
];

describe('plain data', () => {
  it('JSON round trips are exact', () => {
    for (const i of samples()) {
      const back = JSON.parse(JSON.stringify(i)) as Injection;
      expect(back).toStrictEqual(i);
      expect(JSON.stringify(back)).toBe(JSON.stringify(i));
      expect(Object.getPrototypeOf(i)).toBe(Object.prototype);
    }
  });

  it('hold no undefined, bigint or function anywhere', () => {
    const walk = (x: unknown, where: string): void => {
      expect(['string', 'number', 'boolean', 'object'].includes(typeof x), `${where}: ${typeof x}`).toBe(true);
      if (typeof x === 'number') expect(Number.isFinite(x), where).toBe(true);
      if (x && typeof x === 'object') for (const [k, v] of Object.entries(x)) walk(v, `${where}.${k}`);
    };
    for (const i of samples()) walk(i, i.id);
  });

  it('injectionFromJSON gives back the same injection, and refuses edited ones', () => {
    for (const i of samples()) expect(injectionFromJSON(JSON.parse(JSON.stringify(i)))).toStrictEqual(i);
    const edited = JSON.parse(JSON.stringify(fail('read', 'EIO'))) as Record<string, unknown>;
    edited.errno = 4;
    expect(() => injectionFromJSON(edited)).toThrow(/errnoName|errno|spec|id/);
    expect(() => injectionFromJSON({ kind: 'nope' })).toThrow(InjectionSpecError);
    expect(() => injectionFromJSON(null)).toThrow(InjectionSpecError);
    expect(() => injectionFromJSON({ kind: 'fail', select: { set: 'read', args: [] }, errno: 'x' })).toThrow(InjectionSpecError);
  });
});

describe('describeInjection', () => {
  it('says what each does in one sentence', () => {
    const d = samples().map(describeInjection);
    expect(d).toEqual([
      'connect on tcp:*:9000, every 2nd call from the 3rd to the 11th: fails with ECONNREFUSED (Connection refused)',
      'read with fd = 3, every call: returns 0 instead of its recorded result',
      'openat with flags having bits 0x80000 with arg1 = -100 in process 12 in thread 13, every call: fails with EACCES (Permission denied)',
      'hold poll, every call: 500 ms before it is served and 10 µs after',
      '%network (18 syscalls), every call from the 2nd on: SIGRTMIN+1 is delivered as it starts',
      'tcp:*:9000 answers 3 s later: recorded data from it arrives 3 s late',
      'environment variable PAYMENT_TIMEOUT_MS becomes 5000 (5 s)',
      'command-line flag --max-time becomes 5',
      'timeout_ms in /etc/app.conf becomes 5000 (5 s)',
      'poll timeouts become 5 s',
      'SO_RCVTIMEO socket timeouts become infinite (wait until the data arrives)',
      'hold read, every call: 100 µs before it is served',
      'read, every call: fails with EIO (Input/output error)',
    ]);
    expect(describeInjection(fail('read', 'EIO', { when: 3 }))).toBe('read, the 3rd call: fails with EIO (Input/output error)');
    expect(describeInjection(fail('read', 'EIO', { when: '1..3' }))).toBe('read, every call from the 1st to the 3rd: fails with EIO (Input/output error)');
    expect(describeInjection(fail('read', 'EIO', { when: '12+' }))).toBe('read, every call from the 12th on: fails with EIO (Input/output error)');
  });

  it('works on the plain object read back from JSON', () => {
    for (const i of samples()) expect(describeInjection(JSON.parse(JSON.stringify(i)) as Injection)).toBe(describeInjection(i));
  });
});

describe('when= and resource matching', () => {
  const hits = (w: string, n = 20) => {
    const when = fail('read', 'EIO', { when: w }).select.when;
    return Array.from({ length: n }, (_, i) => i + 1).filter((k) => whenHits(when, k));
  };
  it("hit the calls strace's manual lists", () => {
    expect(hits('3')).toEqual([3]);
    expect(hits('2+')).toEqual(Array.from({ length: 19 }, (_, i) => i + 2));
    expect(hits('2+2')).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    expect(hits('1..3')).toEqual([1, 2, 3]);
    expect(hits('3..11+2')).toEqual([3, 5, 7, 9, 11]);
    expect(hits('3..11+')).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(hits('3..12+3')).toEqual([3, 6, 9, 12]);
    expect(hits('3..3+5')).toEqual([3]);
  });

  it("match resources with '*' as any run of characters", () => {
    expect(globMatch('tcp:*:9000', 'tcp:127.0.0.1:9000')).toBe(true);
    expect(globMatch('tcp:*:9000', 'tcp:[::1]:9000')).toBe(true);
    expect(globMatch('tcp:*:9000', 'tcp:127.0.0.1:90001')).toBe(false);
    expect(globMatch('tcp:*:9000', 'udp:127.0.0.1:9000')).toBe(false);
    expect(globMatch('tcp:10.0.0.5:*', 'tcp:10.0.0.5:443')).toBe(true);
    expect(globMatch('tcp:10.0.0.5:*', 'tcp:10.0.0.50:443')).toBe(false);
    expect(globMatch('file:/etc/*.conf', 'file:/etc/app.conf')).toBe(true);
    expect(globMatch('file:/etc/*.conf', 'file:/etc/app/x.conf')).toBe(true); // '*' crosses '/'
    expect(globMatch('file:/etc/*.conf', 'file:/etc/app.conf.bak')).toBe(false);
    expect(globMatch('*', '')).toBe(true);
    expect(globMatch('a*b*c', 'abc')).toBe(true);
    expect(globMatch('a*b*c', 'acb')).toBe(false);
    expect(globMatch('stdout', 'stdout')).toBe(true);
    expect(globMatch('a**a', 'a')).toBe(false);
  });
});


describe('injectionLines', () => {
  it('gives one `inject ID KIND key=value...` line per engine injection, every word printable ASCII', () => {
    const list = samples();
    list.push(timeout('env:GREETING', 'héllo wörld 100%\n\ttab'));
    const lines = injectionLines(list);
    const engineSide = list.filter((i) => i.kind !== 'timeout' || i.target.type === 'syscall');
    expect(lines).toHaveLength(engineSide.length);
    lines.forEach((line, index) => {
      const words = line.split(' ');
      expect(words[0]).toBe('inject');
      expect(percentDecode(words[1])).toBe(engineSide[index].id);
      expect(words[2]).toBe(engineSide[index].kind);
      for (const w of words) expect(/^[\x21-\x7e]+$/.test(w)).toBe(true);
      for (const w of words.slice(3)) expect(w).toMatch(/^[a-z_0-9]+=/);
    });
  });

  it('keeps list order and every injection on the same syscall; env timeouts stay on the TypeScript side', () => {
    const lines = injectionLines([fail('read', 'EIO', { when: 3 }), fail('read', 'EINTR', { when: 3 }), timeout('env:T', 5), delay('read', 5)]);
    expect(lines.map((l) => l.split(' ')[2])).toEqual(['fail', 'fail', 'delay']);
    expect(lines[0]).toMatch(/ errno=5( |$)/);
    expect(lines[0]).toContain(' when=3,3,1');
    expect(lines[1]).toMatch(/ errno=4( |$)/);
    expect(lines[2]).toContain(' enter_us=5 exit_us=0');
  });
});
