// The input files every per-syscall C program (test/syscalls/*.c) may read: binary data, text,
// a directory, links. Made afresh at `dir`.
import * as fs from 'node:fs';
import * as path from 'node:path';

export function makeInputs(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'data.bin'), Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7 + 3) & 0xff)));
  fs.writeFileSync(path.join(dir, 'text.txt'), 'alpha\nbeta\ngamma\n');
  fs.mkdirSync(path.join(dir, 'sub'));
  for (const f of ['a', 'bb', 'ccc', 'dddd', 'eeeee']) fs.writeFileSync(path.join(dir, 'sub', f), f);
  fs.mkdirSync(path.join(dir, 'sub', 'nested'));
  fs.symlinkSync('data.bin', path.join(dir, 'link'));
  fs.symlinkSync('no-such-target', path.join(dir, 'dangling'));
}
