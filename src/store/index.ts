// The store's public surface: the EventStore boundary, the embedded chDB store, the ClickHouse
// server store and how one is chosen, where the store lives, and the one error type callers need.
export type { EventStore, IncidentFilter } from './types';
export { ChdbStore, openStore, type OpenStoreOptions } from './chdb';
export { StoreError, type StoreErrorCode } from './errors';
export {
  ServerStore,
  openServerStore,
  serverTarget,
  DEFAULT_DATABASE,
  URL_ENV,
  USER_ENV,
  PASSWORD_ENV,
  type ServerStoreOptions,
} from './server';
export { openEventStore, serverUrl, type OpenEventStoreOptions } from './open';
export type { GarbageOptions, GarbageReport, Removed, UncommittedRun } from './types';
export type { SchemaOptions } from './sql';
export {
  HOME_ENV,
  PROJECT_STORE_DIR,
  blobCacheDir,
  blobCachePath,
  chdbDataDir,
  spoolDir,
  storeHome,
} from './location';
export { SCHEMA_VERSION } from './sql';
