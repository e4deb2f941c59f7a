// The store commands (push, pull, rm, gc) and the --clickhouse option: which store a command
// works on. With --clickhouse URL or $REPLAYBOOK_CLICKHOUSE_URL it is that ClickHouse server;
// otherwise the embedded store. Credentials (in the URL or $REPLAYBOOK_CLICKHOUSE_USER /
// _PASSWORD) never appear in what is printed: stores name themselves by their location.
import { openStore, storeHome } from '../store';
import { copyIncident, type Copied } from '../store/copy';
import { openEventStore } from '../store/open';
import { PASSWORD_ENV, URL_ENV, USER_ENV, openServerStore, serverTarget } from '../store/server';
import type { EventStore } from '../store/types';
import { DEFAULT_MAX_UNPACKED_BYTES, packIncident, unpackIncident } from '../store/pack';
import { ReplaybookError } from '../errors';
import type { CommandSpec, FlagSpec, Parsed } from './args';
import { shownId } from '../events/ids';

export const CLICKHOUSE_FLAG: FlagSpec = {
  name: 'clickhouse',
  value: 'URL',
  help: `use the ClickHouse server at URL (http://[user:password@]host:8123[/database]; default $${URL_ENV}, else the embedded store)`,
};

const HELP: FlagSpec = { name: 'help', help: 'show this help' };
const VERBOSE: FlagSpec = { name: 'verbose', help: 'show stack traces on errors' };

export const STORE_COMMANDS: Record<string, CommandSpec> = {
  push: {
    name: 'push',
    usage: 'replaybook push ID --to URL',
    summary: 'Copy incident ID with its replay runs and blobs from the embedded store to the ClickHouse server at URL.',
    flags: [{ name: 'to', value: 'URL', help: 'the ClickHouse server (http://[user:password@]host:8123[/database])' }, HELP, VERBOSE],
    positionals: 1,
  },
  pull: {
    name: 'pull',
    usage: 'replaybook pull ID --from URL',
    summary: 'Copy incident ID with its replay runs and blobs from the ClickHouse server at URL into the embedded store.',
    flags: [{ name: 'from', value: 'URL', help: 'the ClickHouse server (http://[user:password@]host:8123[/database])' }, HELP, VERBOSE],
    positionals: 1,
  },
  pack: {
    name: 'pack',
    usage: 'replaybook pack ID --out FILE [--clickhouse URL]',
    summary:
      'Write incident ID with its replay runs and every file it mapped (executable, libraries) into one file,\nto replay it on another machine: replaybook unpack FILE there.',
    flags: [{ name: 'out', value: 'FILE', help: 'where to write the pack' }, CLICKHOUSE_FLAG, HELP, VERBOSE],
    positionals: 1,
  },
  unpack: {
    name: 'unpack',
    usage: 'replaybook unpack FILE [--max-unpacked-bytes N] [--clickhouse URL]',
    summary:
      'Store the incident in FILE (made by replaybook pack) with its runs and files. A pack is checked whole before\n' +
      'anything is stored (one incident, valid ids, readable events, files matching their sha256): a bad pack stores nothing.',
    flags: [
      {
        name: 'max-unpacked-bytes',
        value: 'N',
        help: `refuse a pack that expands to more than N bytes (default ${DEFAULT_MAX_UNPACKED_BYTES}, 1 GiB); raise it for a trusted large pack`,
      },
      CLICKHOUSE_FLAG,
      HELP,
      VERBOSE,
    ],
    positionals: 1,
  },
  rm: {
    name: 'rm',
    usage: 'replaybook rm ID [--clickhouse URL]\n       replaybook rm [--clickhouse URL] -- ID',
    summary:
      'Delete incident ID with its replay runs and events (blobs stay until replaybook gc).\n' +
      "An id that starts with '-' (stored by an older replaybook) is named after --.",
    flags: [CLICKHOUSE_FLAG, HELP, VERBOSE],
    positionals: 1,
  },
  gc: {
    name: 'gc',
    usage: 'replaybook gc [--uncommitted] [--clickhouse URL]',
    summary:
      'Delete blobs no incident refers to any more, and list events left by interrupted inserts.\nWith --uncommitted those are deleted too: only do that while nothing is being recorded into the store.',
    flags: [{ name: 'uncommitted', help: 'also delete events of incidents and runs whose insert never finished' }, CLICKHOUSE_FLAG, HELP, VERBOSE],
    positionals: 0,
  },
};

/** Lines for the main help. */
export const STORE_COMMANDS_HELP = `  push       copy an incident to a ClickHouse server
  pull       copy an incident from a ClickHouse server
  pack       write an incident with its runs and files into one file
  unpack     store an incident from such a file
  rm         delete an incident
  gc         delete blobs no incident uses`;

/** A URL given on the command line that cannot name a server is a usage error (exit status 2). */
function checkUrl(url: string): string {
  try {
    serverTarget({ url });
  } catch (err) {
    throw new ReplaybookError('usage', (err as Error).message);
  }
  return url;
}

/** The store a command works on: --clickhouse URL, else $REPLAYBOOK_CLICKHOUSE_URL, else embedded. */
export function openStoreFor(p: Parsed): Promise<EventStore> {
  const url = p.flags.get('clickhouse');
  return openEventStore({ url: typeof url === 'string' ? checkUrl(url) : undefined });
}

/**
 * The environment a recorded service gets: this one without replaybook's own server settings. A
 * recording stores the service's environment, and the store's password must not end up in it
 * (nor in the service).
 */
export function serviceEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of [URL_ENV, USER_ENV, PASSWORD_ENV]) delete out[name];
  return out;
}

async function using<T>(open: Promise<EventStore>, fn: (store: EventStore) => Promise<T>): Promise<T> {
  const store = await open;
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function needs(p: Parsed, what: string, command: string): string {
  // `rm -- ID` names an id that looks like an option.
  const positional = command === 'rm' && p.positionals.length === 0 && p.rest.length === 1 ? p.rest[0] : p.positionals[0];
  const v = what.startsWith('--') ? p.flags.get(what.slice(2)) : positional;
  if (typeof v !== 'string' || v.length === 0) {
    const thing = what === 'ID' ? (command === 'unpack' ? 'a pack file' : 'an incident id') : what === '--out' ? '--out FILE' : `${what} URL`;
    throw new ReplaybookError('usage', `${command} needs ${thing} (see replaybook ${command} --help)`);
  }
  return v;
}

function copiedLine(id: string, c: Copied, from: string, to: string): string {
  const what =
    c.incident === 'copied'
      ? `copied incident ${shownId(id)} (${c.events} events, ${c.blobs} blobs)`
      : `incident ${shownId(id)} was already in ${to}`;
  return `${what}${c.runs > 0 ? `, ${c.runs} replay run${c.runs === 1 ? '' : 's'}` : ''}: ${from} -> ${to}`;
}

export async function runStoreCommand(name: string, p: Parsed): Promise<number> {
  switch (name) {
    case 'push':
    case 'pull': {
      const id = needs(p, 'ID', name);
      const url = checkUrl(needs(p, name === 'push' ? '--to' : '--from', name));
      return using(openStore(storeHome()), (local) =>
        using(openServerStore({ url }), async (server) => {
          const [from, to] = name === 'push' ? [local, server] : [server, local];
          process.stdout.write(copiedLine(id, await copyIncident(from, to, id), from.location, to.location) + '\n');
          return 0;
        }),
      );
    }
    case 'pack': {
      const id = needs(p, 'ID', name);
      const out = needs(p, '--out', name);
      return using(openStoreFor(p), async (store) => {
        const s = await packIncident(store, id, out);
        process.stdout.write(`packed incident ${shownId(id)} (${s.events} events, ${s.runs} run${s.runs === 1 ? '' : 's'}, ${s.blobs} files) into ${out}: ${s.bytes} bytes\n`);
        return 0;
      });
    }
    case 'unpack': {
      const file = needs(p, 'ID', name);
      const max = p.flags.get('max-unpacked-bytes');
      if (max !== undefined && (typeof max !== 'string' || !/^[1-9]\d*$/.test(max) || !Number.isSafeInteger(Number(max)))) {
        throw new ReplaybookError('usage', `--max-unpacked-bytes needs a whole number of bytes, not '${String(max).slice(0, 40)}'`);
      }
      return using(openStoreFor(p), async (store) => {
        const s = await unpackIncident(store, file, { maxUnpackedBytes: max === undefined ? undefined : Number(max) });
        process.stdout.write(`unpacked incident '${s.incident}' (${s.events} events, ${s.runs} run${s.runs === 1 ? '' : 's'}, ${s.blobs} files) into ${store.location}\n`);
        return 0;
      });
    }
    case 'rm': {
      const id = needs(p, 'ID', name);
      return using(openStoreFor(p), async (store) => {
        const removed = await store.remove(id);
        if (!removed) {
          process.stderr.write(`replaybook: the store at ${store.location} has no incident ${shownId(id)}\n`);
          return 1;
        }
        process.stdout.write(
          `deleted ${removed.incident ? `incident ${shownId(id)}` : `the uncommitted events of ${shownId(id)}`}: ${removed.events} events, ` +
            `${removed.runs} replay run${removed.runs === 1 ? '' : 's'} (${store.location})\n`,
        );
        return 0;
      });
    }
    case 'gc':
      return using(openStoreFor(p), async (store) => {
        const r = await store.collectGarbage({ uncommitted: p.flags.has('uncommitted') });
        const lines = [`deleted ${r.blobs.length} unreferenced blob${r.blobs.length === 1 ? '' : 's'} (${r.bytes} bytes) from ${store.location}`];
        for (const u of r.uncommitted) {
          lines.push(
            `${r.uncommittedRemoved ? 'deleted' : 'found'} ${u.events} uncommitted events of ` +
              `${u.run_id === 'recording' ? `incident ${shownId(u.incident_id)}` : `run ${shownId(u.run_id)} of incident ${shownId(u.incident_id)}`}`,
          );
        }
        if (r.uncommitted.length > 0 && !r.uncommittedRemoved) {
          lines.push('(left by interrupted inserts, or inserts still under way: replaybook gc --uncommitted deletes them)');
        }
        process.stdout.write(lines.join('\n') + '\n');
        return 0;
      });
    default:
      return 2;
  }
}
