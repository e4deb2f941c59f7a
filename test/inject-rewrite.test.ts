// Timeouts applied before a replay starts: the recorded command and environment, and config
// files in each format, with every byte but the value's kept.
import { describe, expect, it } from 'vitest';
import {
  InjectionApplyError,
  applyToCommand,
  applyToFile,
  delay,
  detectConfigFormat,
  editConfig,
  fail,
  rewriteConfig,
  timeout,
} from '../src/inject';

function applyError(f: () => unknown): InjectionApplyError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InjectionApplyError);
    return e as InjectionApplyError;
  }
  throw new Error('applied');
}

describe('applyToCommand', () => {
  const argv = ['/usr/bin/curl', '-s', '--max-time', '2', 'http://provider:9000/pay'];
  const env = ['PATH=/usr/bin', 'PAYMENT_TIMEOUT_MS=2000', 'HOME=/root'];

  it('env: replaces a set variable in place', () => {
    const r = applyToCommand(argv, env, [timeout('env:PAYMENT_TIMEOUT_MS', 5000)]);
    expect(r.env).toEqual(['PATH=/usr/bin', 'PAYMENT_TIMEOUT_MS=5000', 'HOME=/root']);
    expect(r.argv).toEqual(argv);
    expect(r.changes).toEqual([{ id: timeout('env:PAYMENT_TIMEOUT_MS', 5000).id, target: 'env', name: 'PAYMENT_TIMEOUT_MS', index: 1, before: '2000', after: '5000' }]);
    expect(env[1]).toBe('PAYMENT_TIMEOUT_MS=2000'); // inputs untouched
  });

  it('env: sets an unset variable at the end', () => {
    const r = applyToCommand(argv, env, [timeout('env:READ_TIMEOUT', '30')]);
    expect(r.env).toEqual([...env, 'READ_TIMEOUT=30']);
    expect(r.changes[0]).toMatchObject({ index: 3, before: null, after: '30' });
  });

  it('env: a variable set twice is replaced in both places; a prefix is not the variable', () => {
    const r = applyToCommand(argv, ['T=1', 'TT=9', 'T=2'], [timeout('env:T', 5)]);
    expect(r.env).toEqual(['T=5', 'TT=9', 'T=5']);
    expect(r.changes.map((c) => c.before)).toEqual(['1', '2']);
  });

  it('arg: --flag V and --flag=V, every occurrence, not after --', () => {
    const r = applyToCommand(['prog', '--max-time', '2', '--max-time=3', '--', '--max-time', '9'], [], [timeout('arg:--max-time', 5)]);
    expect(r.argv).toEqual(['prog', '--max-time', '5', '--max-time=5', '--', '--max-time', '9']);
    expect(r.changes.map((c) => [c.index, c.before, c.after])).toEqual([
      [2, '2', '5'],
      [3, '3', '5'],
    ]);
  });

  it('arg: short and single-dash flags', () => {
    expect(applyToCommand(['prog', '-t', '2', 'x'], [], [timeout('arg:-t', 5)]).argv).toEqual(['prog', '-t', '5', 'x']);
    expect(applyToCommand(['prog', '-timeout=2s'], [], [timeout('arg:-timeout', '5s')]).argv).toEqual(['prog', '-timeout=5s']);
  });

  it('arg: argv[0] is the program, never a flag', () => {
    expect(() => applyToCommand(['--max-time', '2'], [], [timeout('arg:--max-time', 5)])).toThrow(InjectionApplyError);
  });

  it('arg: an absent flag is an error that shows the command, or is skipped on request', () => {
    const e = applyError(() => applyToCommand(argv, env, [timeout('arg:--connect-timeout', 5)]));
    expect(e.code).toBe('inject_flag_absent');
    expect(e.message).toBe(
      "--timeout arg:--connect-timeout=5: the recorded command has no --connect-timeout (neither '--connect-timeout V' nor '--connect-timeout=V'): /usr/bin/curl -s --max-time 2 http://provider:9000/pay",
    );
    const r = applyToCommand(argv, env, [timeout('arg:--connect-timeout', 5), timeout('env:A', 1)], { absent: 'skip' });
    expect(r.skipped).toHaveLength(1);
    expect(r.skipped[0].reason).toMatch(/no --connect-timeout/);
    expect(r.env).toContain('A=1');
    expect(applyError(() => applyToCommand(['prog', '-t5'], [], [timeout('arg:-t', 5)])).message).toMatch(/-tV, is not recognised/);
  });

  it('arg: a flag with nothing after it is an error', () => {
    expect(applyError(() => applyToCommand(['prog', '--max-time'], [], [timeout('arg:--max-time', 5)])).code).toBe('inject_flag_value');
  });

  it('leaves other injections alone and applies in list order', () => {
    const r = applyToCommand(argv, env, [fail('read', 'EIO'), delay('poll', 5), timeout('syscall:poll', 5), timeout('file:/etc/a.conf#t', 1), timeout('env:PAYMENT_TIMEOUT_MS', 3000), timeout('env:PAYMENT_TIMEOUT_MS', 5000)]);
    expect(r.argv).toEqual(argv);
    expect(r.env[1]).toBe('PAYMENT_TIMEOUT_MS=5000');
    expect(r.changes.map((c) => c.after)).toEqual(['3000', '5000']);
    expect(r.changes[1].before).toBe('3000');
  });
});

const buf = (s: string) => Buffer.from(s, 'utf8');
const edit = (content: string, path: string, key: string, value: string) => rewriteConfig(buf(content), path, key, value).toString('utf8');

describe('rewriteConfig: key=value', () => {
  it('changes the value and keeps every other byte', () => {
    const src = '# payment client\nprovider = 127.0.0.1:9000\ntimeout_ms=2000\nretries = 3 # per request\n';
    expect(edit(src, '/etc/app.conf', 'timeout_ms', '5000')).toBe(src.replace('timeout_ms=2000', 'timeout_ms=5000'));
    expect(edit(src, '/etc/app.conf', 'retries', '10')).toBe(src.replace('retries = 3 #', 'retries = 10 #'));
  });

  it('keeps quotes, export, CRLF line endings and a missing final newline', () => {
    expect(edit('export TIMEOUT="2"\r\nX=1', '/etc/default/app', 'TIMEOUT', '5')).toBe('export TIMEOUT="5"\r\nX=1');
    expect(edit("T='2' # s\n", '/app.env', 'T', '5')).toBe("T='5' # s\n");
    expect(edit('T=2', '/app.env', 'T', '5')).toBe('T=5');
    expect(edit('T=\n', '/app.env', 'T', '5')).toBe('T=5\n');
    expect(edit('T= # none yet\n', '/app.env', 'T', '5')).toBe('T= 5 # none yet\n');
  });

  it('a key set twice is changed in both lines; a prefix of a key is not the key', () => {
    const r = editConfig(buf('t=1\ntt=2\nt=3\n'), '/a.conf', 't', '9');
    expect(r.content.toString()).toBe('t=9\ntt=2\nt=9\n');
    expect(r.changes).toEqual([
      { line: 1, key: 't', before: '1', after: '9' },
      { line: 3, key: 't', before: '3', after: '9' },
    ]);
    expect(r.format).toBe('keyvalue');
  });

  it('an absent key is a clear error listing the keys', () => {
    const e = applyError(() => rewriteConfig(buf('a=1\nb=2\n'), '/etc/app.conf', 'timeout_ms', '5000'));
    expect(e.code).toBe('config_key_absent');
    expect(e.message).toBe("/etc/app.conf: no key 'timeout_ms' in this key=value file (it has: a, b)");
  });

  it('leaves bytes that are not UTF-8 as they were', () => {
    const src = Buffer.concat([Buffer.from('name='), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('\ntimeout=1\n')]);
    const out = rewriteConfig(src, '/x.conf', 'timeout', '2');
    expect(out.equals(Buffer.concat([Buffer.from('name='), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('\ntimeout=2\n')]))).toBe(true);
  });
});

describe('rewriteConfig: INI', () => {
  const ini = '; client\n[client]\ntimeout = 2000 ; ms\nname=pay\n\n[server]\ntimeout: 30\nport = 9000\n';

  it('section.key', () => {
    expect(edit(ini, '/etc/app.ini', 'client.timeout', '5000')).toBe(ini.replace('timeout = 2000 ;', 'timeout = 5000 ;'));
    expect(edit(ini, '/etc/app.ini', 'server.timeout', '60')).toBe(ini.replace('timeout: 30', 'timeout: 60'));
  });

  it('a bare key found in one section only', () => {
    expect(edit(ini, '/etc/app.ini', 'port', '9100')).toBe(ini.replace('port = 9000', 'port = 9100'));
    expect(edit('top = 1\n[a]\nx = 2\n', '/a.ini', 'top', '5')).toBe('top = 5\n[a]\nx = 2\n');
  });

  it('a bare key in several sections is ambiguous', () => {
    const e = applyError(() => rewriteConfig(buf(ini), '/etc/app.ini', 'timeout', '1'));
    expect(e.code).toBe('config_key_ambiguous');
    expect(e.message).toBe("/etc/app.ini: 'timeout' is in several sections ([client], [server]); name one as section.timeout");
  });

  it('sections with dots, keys with spaces, and absent keys', () => {
    expect(edit('[http.client]\nread timeout = 5\n', '/a.ini', 'http.client.read timeout', '9')).toBe('[http.client]\nread timeout = 9\n');
    expect(applyError(() => rewriteConfig(buf(ini), '/etc/app.ini', 'client.port', '1')).message).toBe(
      "/etc/app.ini: no key 'client.port' in this INI file (it has: client.timeout, client.name, server.timeout, server.port)",
    );
  });

  it('TOML-style quoted strings keep their quotes', () => {
    expect(edit('[net]\ntimeout = "2s"\n', '/app.toml', 'net.timeout', '5s')).toBe('[net]\ntimeout = "5s"\n');
  });
});

describe('rewriteConfig: JSON', () => {
  const json = '{\n  "provider": { "url": "http://127.0.0.1:9000", "timeoutMs": 2000 },\n  "name": "pay",\n  "retry": [ { "delay": 1 }, { "delay": 2 } ],\n  "a.b": 7\n}\n';

  it('a dotted path; a number stays a number, a string a string; formatting kept', () => {
    expect(edit(json, '/etc/app.json', 'provider.timeoutMs', '5000')).toBe(json.replace('"timeoutMs": 2000', '"timeoutMs": 5000'));
    expect(edit(json, '/etc/app.json', 'name', 'pay "2"')).toBe(json.replace('"name": "pay"', '"name": "pay \\"2\\""'));
    expect(edit(json, '/etc/app.json', 'retry.1.delay', '9')).toBe(json.replace('"delay": 2', '"delay": 9'));
    expect(edit(json, '/etc/app.json', 'a.b', '8')).toBe(json.replace('"a.b": 7', '"a.b": 8'));
  });

  it('refuses a non-number for a number, and a path to an object', () => {
    expect(applyError(() => rewriteConfig(buf(json), '/etc/app.json', 'provider.timeoutMs', '5s')).code).toBe('config_type');
    expect(applyError(() => rewriteConfig(buf(json), '/etc/app.json', 'provider', '5')).code).toBe('config_not_scalar');
  });

  it('an absent path lists the top-level keys', () => {
    expect(applyError(() => rewriteConfig(buf(json), '/etc/app.json', 'provider.timeout', '5')).message).toBe(
      "/etc/app.json: no 'provider.timeout' in this JSON file (its top-level keys: provider, name, retry, a.b)",
    );
  });

  it('takes comments, escaped keys and literals; refuses broken JSON', () => {
    const src = '// app\n{ /* x */ "t\\u0069meout": null, "on": true }';
    expect(edit(src, '/a.json', 'timeout', '5')).toBe('// app\n{ /* x */ "t\\u0069meout": 5, "on": true }');
    expect(edit(src, '/a.json', 'on', 'false')).toBe('// app\n{ /* x */ "t\\u0069meout": null, "on": false }');
    expect(applyError(() => rewriteConfig(buf('{"a": 1,,}'), '/a.json', 'a', '2')).code).toBe('config_format');
    expect(applyError(() => rewriteConfig(buf('{"a": 1} x'), '/a.json', 'a', '2')).code).toBe('config_format');
  });

  it('keeps UTF-8 text elsewhere byte for byte', () => {
    const src = '{"名前": "支払い", "timeout": 2}';
    expect(edit(src, '/a.json', 'timeout', '5')).toBe('{"名前": "支払い", "timeout": 5}');
    expect(edit(src, '/a.json', '名前', 'ok')).toBe('{"名前": "ok", "timeout": 2}');
  });
});

describe('rewriteConfig: YAML', () => {
  const yaml = [
    '# payment client',
    'provider:',
    '  url: http://127.0.0.1:9000',
    '  timeout_ms: 2000   # too short',
    '  retry:',
    '    delay: 1',
    'name: "pay"',
    "mode: 'strict'",
    'list:',
    '  - timeout_ms: 1',
    'empty:',
    'top_timeout: 3',
    '',
  ].join('\n');

  it('nested by indentation for dotted keys, comments kept', () => {
    expect(edit(yaml, '/etc/app.yaml', 'provider.timeout_ms', '5000')).toBe(yaml.replace('timeout_ms: 2000   #', 'timeout_ms: 5000   #'));
    expect(edit(yaml, '/etc/app.yaml', 'provider.retry.delay', '2')).toBe(yaml.replace('delay: 1', 'delay: 2'));
    expect(edit(yaml, '/etc/app.yaml', 'top_timeout', '9')).toBe(yaml.replace('top_timeout: 3', 'top_timeout: 9'));
  });

  it('keeps quotes; quotes a plain value that needs them; fills an empty one', () => {
    expect(edit(yaml, '/etc/app.yaml', 'name', 'p"q')).toBe(yaml.replace('name: "pay"', 'name: "p\\"q"'));
    expect(edit(yaml, '/etc/app.yaml', 'mode', "it's")).toBe(yaml.replace("mode: 'strict'", "mode: 'it''s'"));
    expect(edit(yaml, '/etc/app.yaml', 'provider.url', 'a: b')).toBe(yaml.replace('url: http://127.0.0.1:9000', 'url: "a: b"'));
    expect(edit(yaml, '/etc/app.yaml', 'empty', '5')).toBe(yaml.replace('empty:', 'empty: 5'));
  });

  it('refuses a mapping, and does not look inside lists or at the wrong depth', () => {
    expect(applyError(() => rewriteConfig(buf(yaml), '/etc/app.yaml', 'provider', '5')).code).toBe('config_not_scalar');
    expect(applyError(() => rewriteConfig(buf(yaml), '/etc/app.yaml', 'timeout_ms', '5')).message).toBe(
      "/etc/app.yaml: no 'timeout_ms' in this YAML file (its top-level keys: provider, name, mode, list, empty, top_timeout)",
    );
    expect(applyError(() => rewriteConfig(buf(yaml), '/etc/app.yaml', 'list.timeout_ms', '5')).code).toBe('config_key_absent');
    expect(applyError(() => rewriteConfig(buf('a: |\n  text\n'), '/a.yml', 'a', '5')).code).toBe('config_not_scalar');
  });
});

describe('format detection and applyToFile', () => {
  it('by extension, then by content', () => {
    expect(detectConfigFormat('/a.json', buf(''))).toBe('json');
    expect(detectConfigFormat('/a.yml', buf(''))).toBe('yaml');
    expect(detectConfigFormat('/a.ini', buf(''))).toBe('ini');
    expect(detectConfigFormat('/a.conf', buf('{"a":1}'))).toBe('json');
    expect(detectConfigFormat('/a.conf', buf('[main]\na=1\n'))).toBe('ini');
    expect(detectConfigFormat('/a.conf', buf('[\n  1\n]'))).toBe('json');
    expect(detectConfigFormat('/a.conf', buf('a=1\nb=2\n'))).toBe('keyvalue');
    expect(detectConfigFormat('/a.conf', buf('a: 1\nurl: http://x?y=1\n'))).toBe('yaml');
    expect(rewriteConfig(buf('a: 1\n'), '/a.conf', 'a', '2', { format: 'yaml' }).toString()).toBe('a: 2\n');
  });

  it('applies the file timeouts for that path, in order, and names the injection on error', () => {
    const injs = [timeout('file:/etc/app.conf#timeout_ms', 5000), timeout('file:/etc/other.conf#x', 1), timeout('file:/etc/app.conf#retries', 4)];
    const r = applyToFile(buf('timeout_ms=2000\nretries=1\n'), '/etc/app.conf', injs);
    expect(r.content.toString()).toBe('timeout_ms=5000\nretries=4\n');
    expect(r.changes.map((c) => [c.id, c.key, c.before, c.after])).toEqual([
      [injs[0].id, 'timeout_ms', '2000', '5000'],
      [injs[2].id, 'retries', '1', '4'],
    ]);
    expect(applyToFile(buf('x'), '/etc/none.conf', injs).changes).toEqual([]);
    expect(applyError(() => applyToFile(buf('a=1\n'), '/etc/app.conf', injs)).message).toMatch(/^timeout_ms in \/etc\/app.conf becomes 5000 \(5 s\): \/etc\/app.conf: no key 'timeout_ms'/);
  });
});
