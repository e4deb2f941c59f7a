// The store's public surface: the EventStore boundary, the embedded chDB implementation, where
// the store lives, and the one error type its callers need to know.
export type { EventStore, IncidentFilter } from './types';
export { ChdbStore, openStore, type OpenStoreOptions } from './chdb';
export { StoreError, type StoreErrorCode } from './errors';
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
