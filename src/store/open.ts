// Which store: a ClickHouse server when a URL is given (explicitly, or by
// $REPLAYBOOK_CLICKHOUSE_URL), else the embedded chDB store in the store home.
import { openStore, type OpenStoreOptions } from './chdb';
import { URL_ENV, openServerStore, type ServerStoreOptions } from './server';
import { storeHome } from './location';
import type { EventStore } from './types';

export interface OpenEventStoreOptions extends OpenStoreOptions, Omit<ServerStoreOptions, 'url'> {
  /** A ClickHouse server URL; default $REPLAYBOOK_CLICKHOUSE_URL. */
  url?: string;
  /** The embedded store's home when no URL applies; default storeHome(). */
  home?: string;
}

/** The server URL in effect (explicit, else the environment), or undefined for the embedded store. */
export function serverUrl(explicit?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return explicit || env[URL_ENV] || undefined;
}

/** Opens the store in effect: the server at `url` / $REPLAYBOOK_CLICKHOUSE_URL, else chDB. */
export async function openEventStore(options: OpenEventStoreOptions = {}): Promise<EventStore> {
  const url = serverUrl(options.url, options.env);
  if (url) return openServerStore({ ...options, url });
  return openStore(options.home ?? storeHome(), options);
}
