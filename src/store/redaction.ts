// The redaction report stored with an incident, read back from JSON (a store row or a pack, which
// is untrusted input): every field is checked before it is used.
import type { AppliedRedaction, RedactedFile, RedactionReport } from '../events/schema';

type Json = Record<string, unknown>;

function obj(v: unknown, what: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what} is not an object`);
  return v as Json;
}
function strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error(`${what} is not a list of strings`);
  return v as string[];
}
function whole(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`${what} is not a whole number`);
  return v;
}
function wholes(v: unknown, n: number, what: string): number[] {
  if (!Array.isArray(v) || v.length !== n) throw new Error(`${what} is not a list of ${n} numbers`);
  return v.map((x) => whole(x, what));
}
function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new Error(`${what} is not a list`);
  return v;
}

const COLUMNS = ['data_in', 'data_out', 'resource'] as const;

function applied(v: unknown): AppliedRedaction {
  const o = obj(v, 'redaction.applied[]');
  if (typeof o.rule !== 'string') throw new Error('redaction.applied[].rule is not a string');
  return {
    rule: o.rule,
    names: strings(o.names, 'redaction.applied[].names'),
    inCommand: o.inCommand === true,
    events: list(o.events, 'redaction.applied[].events').map((e) => {
      const r = obj(e, 'redaction event');
      const column = COLUMNS.find((c) => c === r.column);
      if (!column) throw new Error(`redaction event column ${JSON.stringify(r.column)} is not one of ${COLUMNS.join(', ')}`);
      return {
        seq: whole(r.seq, 'redaction event seq'),
        column,
        ranges: list(r.ranges, 'redaction event ranges').map((x) => wholes(x, 2, 'redaction range') as [number, number]),
      };
    }),
    eventCount: whole(o.eventCount, 'redaction.applied[].eventCount'),
  };
}

function file(v: unknown): RedactedFile {
  const o = obj(v, 'redaction.files[]');
  if (typeof o.path !== 'string' || !o.path.startsWith('/')) throw new Error('redaction.files[].path is not an absolute path');
  if (typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256)) throw new Error('redaction.files[].sha256 is not a sha256');
  return {
    path: o.path,
    sha256: o.sha256,
    size: whole(o.size, 'redaction.files[].size'),
    restore: list(o.restore, 'redaction.files[].restore').map((x) => {
      const r = wholes(x, 5, 'redacted range') as [number, number, number, number, number];
      if (r[1] > 2) throw new Error('redacted range column is not 0, 1 or 2');
      return r;
    }),
    mapped: o.mapped === true,
  };
}

export function redactionFromJson(v: unknown): RedactionReport {
  const o = obj(v, 'redaction');
  return {
    rules: strings(o.rules, 'redaction.rules'),
    applied: list(o.applied, 'redaction.applied').map(applied),
    files: list(o.files, 'redaction.files').map(file),
  };
}
