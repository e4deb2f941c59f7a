// The CLI forms of injections: every form the CLI accepts, the errors (with columns) of the
// malformed ones, strace's when= semantics, and the canonical form parsing back to the same.
import { describe, expect, it } from 'vitest';
import {
  InjectionSpecError,
  parseInjection,
  parseInjectionSpec,
  renderSpec,
  type DelayInjection,
  type FailInjection,
  type Injection,
  type LatencyInjection,
  type SignalInjection,
  type TimeoutInjection,
} from '../src/inject';
import { syscallRows } from '../src/inject/syscalls';

function one<T extends Injection>(flag: string, value: string): T {
  const r = parseInjection(flag, value);
  expect(r).toHaveLength(1);
  return r[0] as T;
}

function rejection(flag: string, value: string): InjectionSpecError {
  try {
    parseInjection(flag, value);
  } catch (e) {
    expect(e).toBeInstanceOf(InjectionSpecError);
    return e as InjectionSpecError;
  }
  throw new Error(`${flag} ${value} was accepted`);
}

const EVERY = { first: 1, last: null, step: 1 };

describe('--inject', () => {
  it('read:error=EIO:when=3', () => {
    const i = one<FailInjection>('--inject', 'read:error=EIO:when=3');
    expect(i.kind).toBe('fail');
    expect(i.errno).toBe(5);
    expect(i.errnoName).toBe('EIO');
    expect(i.retval).toBeNull();
    expect(i.select).toEqual({ set: 'read', syscalls: ['read'], nrs: [0], pid: null, tid: null, resource: null, args: [], when: { first: 3, last: 3, step: 1 } });
    expect(i.spec).toBe('--inject read:error=EIO:when=3');
    expect(i.id).toMatch(/^fail-[0-9a-f]{8}$/);
    expect(i.label).toBeNull();
  });

  it('recvfrom:delay_enter=500000 (microseconds, as strace)', () => {
    const i = one<DelayInjection>('--inject', 'recvfrom:delay_enter=500000');
    expect(i).toMatchObject({ kind: 'delay', enterUs: 500000, exitUs: 0 });
    expect(i.select.syscalls).toEqual(['recvfrom']);
    expect(i.select.nrs).toEqual([45]);
    expect(i.select.when).toEqual(EVERY);
  });

  it("connect:error=ECONNREFUSED:resource=tcp:*:9000 (the resource keeps its ':')", () => {
    const i = one<FailInjection>('--inject', 'connect:error=ECONNREFUSED:resource=tcp:*:9000');
    expect(i).toMatchObject({ kind: 'fail', errno: 111, errnoName: 'ECONNREFUSED' });
    expect(i.select.resource).toBe('tcp:*:9000');
  });

  it('a resource ends at the next :key=', () => {
    const i = one<FailInjection>('--inject', 'connect:resource=tcp:[::1]:9000:when=2:error=ECONNREFUSED');
    expect(i.select.resource).toBe('tcp:[::1]:9000');
    expect(i.select.when).toEqual({ first: 2, last: 2, step: 1 });
    expect(one<FailInjection>('--inject', 'openat:resource=file:/etc/*.conf:error=ENOENT').select.resource).toBe('file:/etc/*.conf');
    expect(one<FailInjection>('--inject', 'read:error=EIO:resource=tcp:10.0.0.5:*').select.resource).toBe('tcp:10.0.0.5:*');
  });

  it('delays take strace time units; a fraction of a microsecond is refused', () => {
    expect(one<DelayInjection>('--inject', 'poll:delay_enter=1.5s').enterUs).toBe(1_500_000);
    expect(one<DelayInjection>('--inject', 'poll:delay_exit=250ms').exitUs).toBe(250_000);
    expect(one<DelayInjection>('--inject', 'poll:delay_exit=10us').exitUs).toBe(10);
    expect(one<DelayInjection>('--inject', 'poll:delay_enter=2000ns').enterUs).toBe(2);
    expect(one<DelayInjection>('--inject', 'poll:delay_enter=2.5e3').enterUs).toBe(2500);
    expect(one<DelayInjection>('--inject', 'poll:delay_enter=1.1s').enterUs).toBe(1_100_000);
    expect(one<DelayInjection>('--inject', 'poll:delay_enter=0').enterUs).toBe(0);
    expect(rejection('--inject', 'poll:delay_enter=1500ns').message).toBe(
      '--inject poll:delay_enter=1500ns: delay_enter: 1500ns is not a whole number of microseconds (column 18)',
    );
    expect(rejection('--inject', 'poll:delay_enter=5h').column).toBe(19);
    expect(rejection('--inject', 'poll:delay_enter=-1').column).toBe(18);
  });

  it('retval=, signal=, numeric errno, aliases', () => {
    expect(one<FailInjection>('--inject', 'read:retval=0')).toMatchObject({ errno: null, errnoName: null, retval: 0 });
    expect(one<FailInjection>('--inject', 'read:error=110')).toMatchObject({ errno: 110, errnoName: 'ETIMEDOUT' });
    expect(one<FailInjection>('--inject', 'read:error=4000')).toMatchObject({ errno: 4000, errnoName: '4000' });
    expect(one<FailInjection>('--inject', 'read:error=EWOULDBLOCK')).toMatchObject({ errno: 11, errnoName: 'EAGAIN' });
    expect(one<SignalInjection>('--inject', 'read:signal=SIGUSR1')).toMatchObject({ kind: 'signal', signal: 10, signalName: 'SIGUSR1' });
    expect(one<SignalInjection>('--inject', 'read:signal=SIGRTMIN+2')).toMatchObject({ signal: 36, signalName: 'SIGRTMIN+2' });
    expect(one<SignalInjection>('--inject', 'read:signal=9')).toMatchObject({ signal: 9, signalName: 'SIGKILL' });
  });

  it('one spec with several actions gives one injection per action, same selector', () => {
    const r = parseInjection('--inject', 'read:error=EIO:delay_enter=100:signal=SIGUSR1:when=2+:label=slow-read');
    expect(r.map((i) => i.kind)).toEqual(['delay', 'fail', 'signal']);
    expect(r.map((i) => i.id)).toEqual(['slow-read.delay', 'slow-read.fail', 'slow-read.signal']);
    for (const i of r) expect('select' in i && i.select.when).toEqual({ first: 2, last: null, step: 1 });
    // They do not share objects: changing one leaves the others alone.
    (r[0] as DelayInjection).select.syscalls.push('x');
    expect((r[1] as FailInjection).select.syscalls).toEqual(['read']);
  });

  it('several injections on one syscall are all kept', () => {
    const all = [...parseInjection('--inject', 'read:error=EIO:when=3'), ...parseInjection('--inject', 'read:error=EINTR:when=3'), ...parseInjection('--inject', 'read:delay_enter=5')];
    expect(all).toHaveLength(3);
    expect(new Set(all.map((i) => i.id)).size).toBe(3);
  });

  it('label= becomes the id', () => {
    expect(one('--inject', 'connect:error=ECONNREFUSED:label=provider-down').id).toBe('provider-down');
    expect(rejection('--inject', 'connect:error=EIO:label=a b').column).toBe(25);
  });

  it('--fault defaults to ENOSYS and takes error= only', () => {
    expect(one<FailInjection>('--fault', 'getrandom')).toMatchObject({ errno: 38, errnoName: 'ENOSYS' });
    expect(one<FailInjection>('--fault', 'getrandom:error=EAGAIN:when=1')).toMatchObject({ errno: 11 });
    expect(rejection('--fault', 'read:delay_enter=5').message).toBe('--fault read:delay_enter=5: --fault takes error= only (use --inject for delay_enter=) (column 6)');
  });

  it('syscall sets: lists, classes, regex, all, negation', () => {
    const set = (s: string) => (one<FailInjection>('--inject', `${s}:error=EIO`).select.syscalls);
    expect(set('sendto,connect')).toEqual(['connect', 'sendto']); // by number
    const net = set('%network');
    expect(net).toContain('connect');
    expect(net).toContain('recvfrom');
    expect(net).not.toContain('read');
    expect(set('%net')).toEqual(net);
    const file = set('%file');
    expect(file).toContain('openat');
    expect(file).toContain('stat');
    expect(file).not.toContain('read');
    const desc = set('%desc');
    expect(desc).toContain('read');
    expect(desc).toContain('openat');
    expect(desc).not.toContain('getpid');
    expect(set('%clock')).toEqual(expect.arrayContaining(['clock_gettime', 'gettimeofday']));
    expect(set('%memory')).not.toContain('mprotect'); // untraced: never stopped
    expect(set('%memory')).toContain('mmap');
    expect(set('/^recv')).toEqual(['recvfrom', 'recvmsg', 'recvmmsg']);
    const all = set('all');
    const traced = syscallRows().filter((r) => r.cls !== 'untraced');
    expect(all).toHaveLength(traced.length);
    expect(set('!read')).toHaveLength(traced.length - 1);
    expect(set('!%network')).not.toContain('connect');
  });

  it('argument selectors resolve to an index', () => {
    const i = one<FailInjection>('--inject', 'read:fd=3:error=EIO');
    expect(i.select.args).toEqual([{ key: 'fd', index: 0, op: 'eq', value: '3' }]);
    expect(one<FailInjection>('--inject', 'openat:flags=&02000000:error=EACCES').select.args).toEqual([{ key: 'flags', index: 2, op: 'all', value: '524288' }]);
    expect(one<FailInjection>('--inject', 'open:flags=0x80000:error=EACCES').select.args[0]).toMatchObject({ index: 1, value: '524288' });
    expect(one<FailInjection>('--inject', 'openat:arg1=-100:error=EACCES').select.args[0]).toMatchObject({ key: 'arg1', index: 0, value: '18446744073709551516' });
    expect(one<FailInjection>('--inject', 'read,write,recvfrom:fd=5:error=EIO').select.args[0].index).toBe(0);
    expect(one<FailInjection>('--inject', 'read:arg3=4096:error=EIO').select.args[0]).toMatchObject({ index: 2, value: '4096' });
  });

  it('pid= and tid= are recorded ids', () => {
    const i = one<FailInjection>('--inject', 'read:pid=1234:tid=1240:error=EIO');
    expect(i.select.pid).toBe(1234);
    expect(i.select.tid).toBe(1240);
  });

  it('when= repeated: the last one counts (strace)', () => {
    expect(one<FailInjection>('--inject', 'read:error=EIO:when=2:when=5+').select.when).toEqual({ first: 5, last: null, step: 1 });
  });
});

describe('when=', () => {
  const w = (s: string) => one<FailInjection>('--inject', `read:error=EIO:when=${s}`).select.when;
  it("parses strace's forms", () => {
    expect(w('3')).toEqual({ first: 3, last: 3, step: 1 });
    expect(w('2+')).toEqual({ first: 2, last: null, step: 1 });
    expect(w('2+2')).toEqual({ first: 2, last: null, step: 2 });
    expect(w('1..3')).toEqual({ first: 1, last: 3, step: 1 });
    expect(w('3..11+')).toEqual({ first: 3, last: 11, step: 1 });
    expect(w('3..11+2')).toEqual({ first: 3, last: 11, step: 2 });
    expect(w('3..3')).toEqual({ first: 3, last: 3, step: 1 });
    expect(w('03')).toEqual({ first: 3, last: 3, step: 1 });
    expect(w('65535')).toEqual({ first: 65535, last: 65535, step: 1 });
    expect(w('1..65534')).toEqual({ first: 1, last: 65534, step: 1 });
  });

  it("rejects what strace rejects, at the offending number", () => {
    // 'read:error=EIO:when=' is 20 characters: the expression starts at column 21.
    const col = (s: string) => rejection('--inject', `read:error=EIO:when=${s}`).column;
    expect(col('0')).toBe(21);
    expect(col('5..3')).toBe(24);
    expect(col('3..0')).toBe(24);
    expect(col('2+0')).toBe(23);
    expect(col('65536')).toBe(21);
    expect(col('1..65535')).toBe(24);
    expect(col('3..')).toBe(24);
    expect(col('3+2+')).toBe(24);
    expect(col('0x3')).toBe(21); // first is 0
    expect(col('3x')).toBe(22);
    expect(col('+2')).toBe(21);
    expect(col(' 3')).toBe(21);
    expect(col('')).toBe(21);
    expect(rejection('--inject', 'read:error=EIO:when=0').message).toBe('--inject read:error=EIO:when=0: when=: first must be at least 1 (calls count from 1) (column 21)');
    expect(rejection('--inject', 'read:error=EIO:when=5..3').reason).toBe('when=: last (3) is before first (5)');
  });
});

describe('--latency and --timeout', () => {
  it('--latency tcp:*:9000=3000000', () => {
    const i = one<LatencyInjection>('--latency', 'tcp:*:9000=3000000');
    expect(i).toEqual({ id: i.id, kind: 'latency', spec: '--latency tcp:*:9000=3000000', label: null, resource: 'tcp:*:9000', us: 3_000_000 });
    expect(one<LatencyInjection>('--latency', 'tcp:*:9000=3s').us).toBe(3_000_000);
    expect(one<LatencyInjection>('--latency', 'file:/data/x=a=5').resource).toBe('file:/data/x=a');
  });

  it('--timeout env:PAYMENT_TIMEOUT_MS=5000', () => {
    const i = one<TimeoutInjection>('--timeout', 'env:PAYMENT_TIMEOUT_MS=5000');
    expect(i.target).toEqual({ type: 'env', name: 'PAYMENT_TIMEOUT_MS' });
    expect(i).toMatchObject({ value: '5000', unit: 'ms', us: 5_000_000 });
    expect(one<TimeoutInjection>('--timeout', 'env:OPTS=a=b').value).toBe('a=b');
  });

  it('--timeout arg:--max-time=5', () => {
    const i = one<TimeoutInjection>('--timeout', 'arg:--max-time=5');
    expect(i.target).toEqual({ type: 'arg', flag: '--max-time' });
    expect(i).toMatchObject({ value: '5', unit: null, us: null });
    expect(one<TimeoutInjection>('--timeout', 'arg:--timeout-seconds=5')).toMatchObject({ unit: 's', us: 5_000_000 });
    expect(one<TimeoutInjection>('--timeout', 'arg:-t=5').target).toEqual({ type: 'arg', flag: '-t' });
  });

  it('--timeout file:/etc/app.conf#timeout_ms=5000', () => {
    const i = one<TimeoutInjection>('--timeout', 'file:/etc/app.conf#timeout_ms=5000');
    expect(i.target).toEqual({ type: 'file', path: '/etc/app.conf', key: 'timeout_ms' });
    expect(i).toMatchObject({ value: '5000', unit: 'ms', us: 5_000_000 });
    expect(one<TimeoutInjection>('--timeout', 'file:/etc/app.ini#http.timeout=5').target).toEqual({ type: 'file', path: '/etc/app.ini', key: 'http.timeout' });
  });

  it('--timeout syscall:poll=5000 (ms by default, units, -1)', () => {
    const i = one<TimeoutInjection>('--timeout', 'syscall:poll=5000');
    expect(i.target).toEqual({ type: 'syscall', name: 'poll' });
    expect(i).toMatchObject({ value: '5000', unit: 'ms', us: 5_000_000 });
    expect(one<TimeoutInjection>('--timeout', 'syscall:epoll_wait=2.5s')).toMatchObject({ value: '2.5', unit: 's', us: 2_500_000 });
    expect(one<TimeoutInjection>('--timeout', 'syscall:SO_RCVTIMEO=-1')).toMatchObject({ value: '-1', us: -1 });
    expect(one<TimeoutInjection>('--timeout', 'syscall:pselect6=inf')).toMatchObject({ value: '-1', us: -1 });
    for (const n of ['ppoll', 'select', 'pselect6', 'epoll_pwait', 'SO_SNDTIMEO']) expect(one<TimeoutInjection>('--timeout', `syscall:${n}=1`).us).toBe(1000);
  });

  it('rejects bad targets and values with columns', () => {
    expect(rejection('--timeout', 'envv:X=1').message).toMatch(/^--timeout envv:X=1: unknown timeout target 'envv:' .* \(column 1\)$/);
    expect(rejection('--timeout', 'env:1X=1').column).toBe(5);
    expect(rejection('--timeout', 'env:X').column).toBe(6);
    expect(rejection('--timeout', 'env:X=').column).toBe(7);
    expect(rejection('--timeout', 'arg:max-time=5').column).toBe(5);
    expect(rejection('--timeout', 'file:etc/app.conf#k=1').column).toBe(6);
    expect(rejection('--timeout', 'file:/etc/app.conf=1').reason).toMatch(/no '#key'/);
    expect(rejection('--timeout', 'file:/etc/app.conf#=1').column).toBe(20);
    expect(rejection('--timeout', 'syscall:read=5').column).toBe(9);
    expect(rejection('--timeout', 'syscall:poll=5x').column).toBe(15);
    expect(rejection('--latency', 'tcp:*:9000').column).toBe(11);
    expect(rejection('--latency', 'tpc:*:9000=5').message).toMatch(/unknown resource kind 'tpc:'.*\(column 1\); did you mean tcp:\?$/);
    expect(rejection('--latency', 'tcp:*:99999=5').column).toBe(7);
    expect(rejection('--latency', 'tcp:*:9000=abc').column).toBe(12);
  });
});

describe('rejections', () => {
  const cases: [string, string, number, string][] = [
    ['--inject', 'read:error=EIOX', 12, "unknown errno 'EIOX'"],
    ['--inject', 'reed:error=EIO', 1, "unknown syscall 'reed'"],
    ['--inject', 'read,wrte:error=EIO', 6, "unknown syscall 'wrte'"],
    ['--inject', ':error=EIO', 1, 'empty syscall set'],
    ['--inject', 'read,,write:error=EIO', 6, 'empty item in the syscall set'],
    ['--inject', '!:error=EIO', 2, "empty syscall set after '!'"],
    ['--inject', '%fiel:error=EIO', 1, "unknown syscall class '%fiel'"],
    ['--inject', '/[:error=EIO', 2, "bad regular expression '['"],
    ['--inject', '/^zzz:error=EIO', 2, 'matches no syscall'],
    ['--inject', 'mprotect:error=ENOMEM', 1, 'runs untraced'],
    ['--inject', 'read', 5, 'nothing to inject'],
    ['--inject', 'read:when=3', 12, 'nothing to inject'],
    ['--inject', 'read:', 6, "nothing after ':'"],
    ['--inject', 'read:error=EIO:', 16, "nothing after ':'"],
    ['--inject', 'read::error=EIO', 6, "empty field (two ':' in a row)"],
    ['--inject', 'read:error', 6, "expected key=value, got 'error'"],
    ['--inject', 'read:=EIO', 6, "missing key before '='"],
    ['--inject', 'read:error=', 12, 'error=: no value'],
    ['--inject', 'read:foo=1:error=EIO', 6, "unknown key 'foo'"],
    ['--inject', 'read:poke_enter=@arg1=00:error=EIO', 6, "strace's poke_enter= is not supported"],
    ['--inject', 'read:syscall=getpid:error=EIO', 6, "strace's syscall= is not supported"],
    ['--inject', 'read:error=EIO:error=EINTR', 16, 'error= given twice (first at column 6)'],
    ['--inject', 'read:error=EIO:retval=0', 16, 'error= and retval= exclude each other'],
    ['--inject', 'read:error=0', 12, 'out of range 1..4095'],
    ['--inject', 'read:error=4096', 12, 'out of range 1..4095'],
    ['--inject', 'read:retval=-1', 13, 'bad number'],
    ['--inject', 'read:signal=SIGFOO', 13, "unknown signal 'SIGFOO'"],
    ['--inject', 'read:signal=65', 13, 'out of range 1..64'],
    ['--inject', 'read:delay_enter=abc', 18, 'bad number'],
    ['--inject', 'read:pid=0:error=EIO', 10, 'bad pid'],
    ['--inject', 'read:tid=x:error=EIO', 10, 'bad tid'],
    ['--inject', 'read:fd=x:error=EIO', 9, 'bad number'],
    ['--inject', 'read:fd=08:error=EIO', 9, 'bad number'],
    ['--inject', 'read:fd=0x10000000000000000:error=EIO', 9, 'does not fit in 64 bits'],
    ['--inject', 'read:flags=1:error=EIO', 6, 'no flags argument'],
    ['--inject', 'socket:fd=1:error=EIO', 8, 'no fd argument'],
    ['--inject', 'read:arg4=1:error=EIO', 6, 'no 4th argument'],
    ['--inject', 'read:arg7=1:error=EIO', 6, "unknown key 'arg7'"],
    ['--inject', 'open,openat:flags=1:error=EIO', 13, 'not the same argument in every syscall'],
    ['--inject', 'read:resource=:error=EIO', 15, 'resource=: no value'],
    ['--inject', 'read:resource=tpc:*:9000:error=EIO', 15, "unknown resource kind 'tpc:'"],
    ['--inject', 'read:resource=file:etc/x:error=EIO', 20, 'absolute path'],
    ['--inject', 'read:resource=tcp:10.0.0.5:error=EIO', 19, 'must be host:port'],
    ['--inject', 'read:resource=stdot:error=EIO', 15, "unknown resource 'stdot'"],
    ['--bogus', 'read:error=EIO', 1, "unknown injection flag '--bogus'"],
  ];
  for (const [flag, spec, column, reason] of cases) {
    it(`${flag} ${spec}`, () => {
      const e = rejection(flag, spec);
      expect(e.column).toBe(column);
      expect(e.reason).toContain(reason);
      expect(e.message).toContain(`${flag} ${spec}: `);
      expect(e.message).toContain(`(column ${column})`);
      expect(e.code).toBe('inject_spec');
    });
  }

  it("the brief's example, word for word (a hint follows when there is one)", () => {
    expect(rejection('--inject', 'read:error=EIOX').message).toBe("--inject read:error=EIOX: unknown errno 'EIOX' (column 12); did you mean EIO?");
    expect(rejection('--inject', 'read:error=EBLAH').message).toBe("--inject read:error=EBLAH: unknown errno 'EBLAH' (column 12)");
    expect(rejection('--inject', 'read:error=eio').hint).toBe('EIO');
    expect(rejection('--inject', 'conect:error=EIO').hint).toBe('connect');
    expect(rejection('--inject', 'READ:error=EIO').hint).toBe('read');
  });
});

describe('the single-string form', () => {
  it('takes the flag with a space or =, with or without dashes, or no flag (an --inject)', () => {
    const a = parseInjectionSpec('--inject read:error=EIO:when=3');
    expect(parseInjectionSpec('--inject=read:error=EIO:when=3')).toEqual(a);
    expect(parseInjectionSpec('inject read:error=EIO:when=3')).toEqual(a);
    expect(parseInjectionSpec('read:error=EIO:when=3')).toEqual(a);
    expect(parseInjectionSpec('-e inject=read:error=EIO:when=3')).toEqual(a);
    expect(parseInjectionSpec('--timeout env:PAYMENT_TIMEOUT_MS=5000')[0].kind).toBe('timeout');
    expect(parseInjectionSpec('--timeout=env:PAYMENT_TIMEOUT_MS=5000')).toEqual(parseInjectionSpec('--timeout env:PAYMENT_TIMEOUT_MS=5000'));
    expect(parseInjectionSpec('latency tcp:*:9000=3s')[0]).toMatchObject({ kind: 'latency', us: 3_000_000 });
    expect(parseInjectionSpec('--fault getrandom')[0]).toMatchObject({ errnoName: 'ENOSYS' });
  });

  it('columns count from the spec after the flag', () => {
    try {
      parseInjectionSpec('--inject read:error=EIOX');
      throw new Error('accepted');
    } catch (e) {
      expect((e as InjectionSpecError).message).toBe("--inject read:error=EIOX: unknown errno 'EIOX' (column 12); did you mean EIO?");
    }
    expect(() => parseInjectionSpec('--nope read:error=EIO')).toThrow(InjectionSpecError);
  });
});

describe('canonical form', () => {
  const specs = [
    ['--inject', 'read:error=EIO:when=3'],
    ['--inject', 'recvfrom:delay_enter=500000'],
    ['--inject', 'recvfrom:delay_exit=1s:delay_enter=2ms'],
    ['--inject', 'connect:error=ECONNREFUSED:resource=tcp:*:9000'],
    ['--inject', '%network:resource=tcp:*:9000:when=3..11+2:pid=7:tid=8:signal=SIGUSR2'],
    ['--inject', 'openat:flags=&0x80000:arg1=-100:error=EACCES:when=2+2'],
    ['--inject', 'read:retval=0:fd=3:when=1..3'],
    ['--inject', 'read:delay_enter=0'],
    ['--fault', 'getrandom'],
    ['--latency', 'tcp:*:9000=3000000'],
    ['--timeout', 'env:PAYMENT_TIMEOUT_MS=5000'],
    ['--timeout', 'arg:--max-time=5'],
    ['--timeout', 'file:/etc/app.conf#timeout_ms=5000'],
    ['--timeout', 'syscall:poll=5000'],
    ['--timeout', 'syscall:poll=5s'],
    ['--timeout', 'syscall:poll=-1'],
  ];
  for (const [flag, value] of specs) {
    it(`${flag} ${value} parses back from its spec`, () => {
      for (const i of parseInjection(flag, value)) {
        expect(renderSpec(i)).toBe(i.spec);
        expect(parseInjectionSpec(i.spec)).toEqual([i]);
      }
    });
  }

  it('the id is stable: same spec, same id', () => {
    const a = one('--inject', 'connect:error=ECONNREFUSED:resource=tcp:*:9000');
    const b = one('--inject', 'connect:resource=tcp:*:9000:error=ECONNREFUSED');
    expect(a.id).toBe(b.id);
    expect(a.id).not.toBe(one('--inject', 'connect:error=ECONNREFUSED:resource=tcp:*:9001').id);
  });
});
