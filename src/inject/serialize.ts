// Injections as the engine reads them: config lines `inject <JSON>` (schema in types.ts), the JSON
// percent-encoded as native/engine_main.cc's unescape() expects.
import { ENGINE_SCHEMA_VERSION, type Injection, type Selector } from './types';

/**
 * Percent-encodes text for an engine config value: the UTF-8 bytes that are '%', ASCII
 * whitespace, control bytes or >= 0x80 become %XX, so that the value is one printable ASCII word
 * (the engine splits config lines at whitespace, then decodes each %XX back to its byte).
 */
export function percentEncode(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    out += b === 0x25 || b <= 0x20 || b >= 0x7f ? '%' + b.toString(16).toUpperCase().padStart(2, '0') : String.fromCharCode(b);
  }
  return out;
}

/** The inverse of percentEncode, decoding as the engine does (%XX → the byte XX). */
export function percentDecode(word: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < word.length; i++) {
    if (word[i] === '%' && i + 2 < word.length && /^[0-9A-Fa-f]{2}$/.test(word.slice(i + 1, i + 3))) {
      bytes.push(parseInt(word.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(word.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** One injection as the engine's JSON object: { v, index, ...injection } (stored with runs). */
export function engineObject(i: Injection, index: number): Record<string, unknown> {
  return { v: ENGINE_SCHEMA_VERSION, index, ...i };
}

function selectorWords(sel: Selector): string[] {
  const w = [`syscalls=${percentEncode(sel.syscalls.join(','))}`];
  if (sel.pid !== null) w.push(`pid=${sel.pid}`);
  if (sel.tid !== null) w.push(`tid=${sel.tid}`);
  if (sel.resource !== null) w.push(`resource=${percentEncode(sel.resource)}`);
  for (const a of sel.args) w.push(`${a.op === 'all' ? 'argmask' : 'arg'}${a.index}=${a.value}`);
  w.push(`when=${sel.when.first},${sel.when.last ?? 0},${sel.when.step}`);
  return w;
}

/**
 * The engine's config line for one injection (native/inject.h documents the format), or null
 * for a timeout applied before the engine starts (env, arg, file).
 */
export function engineLine(i: Injection): string | null {
  const id = percentEncode(i.id);
  switch (i.kind) {
    case 'delay':
      return [`inject ${id} delay`, ...selectorWords(i.select), `enter_us=${i.enterUs}`, `exit_us=${i.exitUs}`].join(' ');
    case 'fail':
      return [`inject ${id} fail`, ...selectorWords(i.select), i.errno !== null ? `errno=${i.errno}` : `retval=${i.retval ?? 0}`].join(' ');
    case 'signal':
      return [`inject ${id} signal`, ...selectorWords(i.select), `signal=${i.signal}`].join(' ');
    case 'latency':
      return `inject ${id} latency resource=${percentEncode(i.resource)} us=${i.us}`;
    case 'timeout':
      if (i.target.type !== 'syscall') return null;
      return `inject ${id} timeout syscall=${i.target.name} value_us=${i.us ?? -1}`;
  }
}

/**
 * The config lines that give a replay its injections, in list order (the order decides ties;
 * see types.ts). env/arg/file timeouts are applied before the engine starts and have no line.
 */
export function toEngineConfig(injections: readonly Injection[]): string[] {
  return injections.map(engineLine).filter((l): l is string => l !== null);
}
