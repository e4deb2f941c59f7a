// Injections as the engine reads them: config lines `inject <JSON>` (schema in types.ts), the JSON
// percent-encoded as native/engine_main.cc's unescape() expects.
import { ENGINE_SCHEMA_VERSION, type Injection } from './types';

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

/** One injection as the engine's JSON object: { v, index, ...injection }. */
export function engineObject(i: Injection, index: number): Record<string, unknown> {
  return { v: ENGINE_SCHEMA_VERSION, index, ...i };
}

/**
 * The config lines that give a replay its injections, one `inject <percent-encoded JSON>` per
 * injection, in list order (the order decides ties; see types.ts). env/arg/file timeouts are
 * included: they are applied before the engine starts, and tell it the run is counterfactual
 * from its first event.
 */
export function toEngineConfig(injections: readonly Injection[]): string[] {
  return injections.map((i, index) => `inject ${percentEncode(JSON.stringify(engineObject(i, index)))}`);
}
