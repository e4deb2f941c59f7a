// Where the store lives, found the way git finds .git, so the CLI, the demo and a notebook kernel
// started in notebooks/ all land on the same directory.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Environment variable naming the store home explicitly. */
export const HOME_ENV = 'REPLAYBOOK_HOME';
/** A project-local store: the nearest directory of this name in cwd or a parent. */
export const PROJECT_STORE_DIR = '.replaybook';

/**
 * The store home: `$REPLAYBOOK_HOME` if set; else the nearest `.replaybook/` directory in `cwd`
 * or a parent; else `$XDG_DATA_HOME/replaybook` (default `~/.local/share/replaybook`).
 */
export function storeHome(cwd: string = process.cwd()): string {
  const explicit = process.env[HOME_ENV];
  if (explicit) return path.resolve(cwd, explicit);

  let dir = path.resolve(cwd);
  for (;;) {
    const candidate = path.join(dir, PROJECT_STORE_DIR);
    if (isDirectory(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }

  // The XDG spec says relative values are invalid and must be ignored.
  const xdg = process.env.XDG_DATA_HOME;
  const dataHome = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.local', 'share');
  return path.join(dataHome, 'replaybook');
}

/** The chDB data directory (locked by whichever process has it open). */
export function chdbDataDir(home: string): string {
  return path.join(home, 'chdb');
}

/** Recordings waiting to be ingested because the store was busy when they were written. */
export function spoolDir(home: string): string {
  return path.join(home, 'spool');
}

/** Marker files of processes that keep the store open for their whole life (see ChdbStore). */
export function holdersDir(home: string): string {
  return path.join(home, 'holders');
}

/** Root of the content-addressed cache of blob files. */
export function blobCacheDir(home: string): string {
  return path.join(home, 'blobs');
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function isSha256(s: string): boolean {
  return SHA256_HEX.test(s);
}

/**
 * Path of the cached copy of a blob: `<home>/blobs/<first 2 hex>/<sha256>`. The file is only ever
 * created whole (written aside, then renamed), so if it exists its content has this sha256.
 */
export function blobCachePath(home: string, sha256: string): string {
  if (!isSha256(sha256)) {
    throw new TypeError(`not a sha256 (64 lowercase hex digits): ${JSON.stringify(sha256)}`);
  }
  return path.join(blobCacheDir(home), sha256.slice(0, 2), sha256);
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
