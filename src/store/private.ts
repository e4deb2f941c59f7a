// A store holds what services sent and received: only its owner may read it. Directories are
// 0700 and files 0600 (blob cache files 0500: replay runs the recorded executable from there).
// Our own files get these modes when written; chDB's files get them from the umask held while a
// chDB session is open (chDB creates its files with the process umask).
import * as fs from 'node:fs';
import * as path from 'node:path';

export const PRIVATE_DIR = 0o700;
export const PRIVATE_FILE = 0o600;
/** Blob cache files: read-only, and executable for the owner. */
export const PRIVATE_EXEC = 0o500;

/** Creates `dir` (and parents) and makes `dir` itself 0700. */
export function makePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  const st = fs.statSync(dir);
  if ((st.mode & 0o777) !== PRIVATE_DIR && st.uid === process.getuid?.()) fs.chmodSync(dir, PRIVATE_DIR);
}

/**
 * Takes group and other permissions off everything under `dir` (a store written before stores
 * were private). Symbolic links are left alone.
 */
export function tightenTree(dir: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    try {
      const mode = fs.lstatSync(p).mode & 0o777;
      if (mode & 0o077) fs.chmodSync(p, mode & 0o700);
    } catch {
      continue; // removed meanwhile
    }
    if (e.isDirectory()) tightenTree(p);
  }
}

/** Makes the store home private; a home that was not is tightened all through once. */
export function makeStoreHomePrivate(home: string): void {
  let wasOpen = false;
  try {
    wasOpen = (fs.statSync(home).mode & 0o077) !== 0;
  } catch {
    // created below
  }
  makePrivateDir(home);
  if (wasOpen) tightenTree(home);
}

let held = 0;
let saved = 0;

/** Sets a umask of 077 until the returned function is called (nested holds are counted). */
export function holdPrivateUmask(): () => void {
  if (held++ === 0) saved = process.umask(0o077);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--held === 0) process.umask(saved);
  };
}
