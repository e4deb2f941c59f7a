// `replaybook spool [list | retry ID | rm ID]`: the recordings and runs waiting in the embedded
// store's spool. An entry waits there when the store was busy or could not take it (a full disk):
// every operation retries it and warns while it fails; these commands show each entry, retry one
// now with the reason it fails, or drop it.
import { storeHome } from '../store';
import { openStore } from '../store/chdb';
import { formatBytes } from '../store/space';
import type { SpoolListing } from '../store/spool';
import { ReplaybookError } from '../errors';
import type { CommandSpec, Parsed } from './args';

export const SPOOL_SPEC: CommandSpec = {
  name: 'spool',
  usage: 'replaybook spool [list] [--json] | replaybook spool retry ID | replaybook spool rm ID',
  summary:
    'Recordings and runs waiting in the spool of the embedded store: written while the store was busy, or\n' +
    'kept because it could not take them (a full disk). Every operation on the store retries them.\n' +
    'Streamed recordings (ids live-...) are listed too: retry stores what is new in one; rm refuses one still recording.\n' +
    '  list      each entry: id, state, what it holds, size, when it was written (the default)\n' +
    '  retry ID  ingest entry ID now, and say why if it still cannot be\n' +
    '  rm ID     delete entry ID (the recording in it is lost); also for entries set aside as corrupt or conflicting\n' +
    'ID may be a unique prefix of the id.',
  flags: [
    { name: 'json', help: 'list as one JSON array' },
    { name: 'help', help: 'show this help' },
    { name: 'verbose', help: 'show stack traces on errors' },
  ],
  positionals: 2,
};

/** The line for `replaybook --help`'s command list. */
export const SPOOL_SUMMARY = '  spool      list, retry or delete recordings waiting to be stored';

function what(e: SpoolListing): string {
  if (e.kind === 'run') return `run '${e.run_id ?? '?'}' of '${e.incident_id ?? '?'}'`;
  if (e.kind === 'incident') return `incident '${e.incident_id ?? '?'}'`;
  return 'unreadable entry';
}

function listText(entries: SpoolListing[], home: string): string {
  if (entries.length === 0) return `the spool of ${home} is empty`;
  const rows = [
    ['ID', 'STATE', 'HOLDS', 'EVENTS', 'SIZE', 'WRITTEN'],
    ...entries.map((e) => [
      e.id,
      e.state,
      what(e),
      e.event_rows === null ? '-' : String(e.event_rows),
      formatBytes(e.bytes),
      e.written_at ? e.written_at.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-',
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
  for (const e of entries) if (e.reason) lines.push(`${e.id}: ${e.reason.split('\n')[0]}`);
  return lines.join('\n');
}

/** Runs `replaybook spool ...` once parsed; returns the exit status. */
export async function spoolCommand(p: Parsed): Promise<number> {
  const [action = 'list', id] = p.positionals;
  if (!['list', 'retry', 'rm'].includes(action)) {
    throw new ReplaybookError('usage', `spool needs 'list', 'retry ID' or 'rm ID', not '${action.slice(0, 40)}' (see replaybook spool --help)`);
  }
  if (action === 'list' && id !== undefined) throw new ReplaybookError('usage', `unexpected argument '${id.slice(0, 40)}' for 'spool list'`);
  if (action !== 'list' && !id) throw new ReplaybookError('usage', `spool ${action} needs an entry id (replaybook spool list shows them)`);
  const home = storeHome();
  const store = await openStore(home);
  try {
    if (action === 'list') {
      const entries = store.spool();
      process.stdout.write((p.flags.has('json') ? JSON.stringify(entries) : listText(entries, home)) + '\n');
      return 0;
    }
    if (action === 'retry') {
      const e = await store.retrySpoolEntry(id);
      process.stdout.write(`ingested spool entry ${e.id} (${what(e)}) into ${home}\n`);
      return 0;
    }
    const e = await store.removeSpoolEntry(id);
    process.stdout.write(`deleted spool entry ${e.id} (${what(e)}, ${formatBytes(e.bytes)}) from ${home}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
