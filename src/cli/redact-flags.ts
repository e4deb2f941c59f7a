// The record command's redaction flags, turned into RecordOptions (src/record/redact.ts).
import { parseRedactRule, type RedactOptions } from '../record/redact';
import type { FlagSpec, Parsed } from './args';

export const REDACT_FLAGS: FlagSpec[] = [
  {
    name: 'redact',
    value: 'RULE',
    repeat: true,
    help: 'also redact: env:GLOB (variable names), header:NAME (HTTP header), bytes:TEXT (these bytes anywhere)',
  },
  {
    name: 'redact-file',
    value: 'PATH',
    repeat: true,
    help: "keep this file's contents out of the store (only its hash); replaying needs the file here",
  },
  { name: 'no-default-redact', help: 'no default rules (*TOKEN*, *SECRET*, *PASSWORD*, *_KEY, auth and cookie headers)' },
];

export function redactFlags(p: Parsed): RedactOptions {
  const redact = p.repeated.flatMap(({ name, value }) => {
    if (name === 'redact') return [parseRedactRule(value)];
    if (name === 'redact-file') return [parseRedactRule(`file:${value}`)];
    return [];
  });
  return { redact, defaultRedact: !p.flags.has('no-default-redact') };
}
