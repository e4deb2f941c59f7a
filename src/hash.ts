// Content addresses: files are named by the SHA-256 of their bytes (blobs, executables).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

/** SHA-256 of a file's contents, hex, read in 1 MiB chunks. */
export function sha256File(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}
