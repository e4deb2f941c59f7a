// A scratch folder for one test file: a bin/ for the programs it builds and a store, opened
// before its tests and removed after them.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { openStore, type ChdbStore } from '../../src/store';

export function scratchStore(prefix: string, opened: (store: ChdbStore) => void): { tmp: string; binDir: string } {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const binDir = path.join(tmp, 'bin');
  let store: ChdbStore | null = null;
  beforeAll(async () => {
    fs.mkdirSync(binDir);
    store = await openStore(path.join(tmp, 'store'));
    opened(store);
  });
  afterAll(async () => {
    await store?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  return { tmp, binDir };
}
