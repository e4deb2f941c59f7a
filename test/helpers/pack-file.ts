// Reading and writing pack files section by section, to build damaged and hostile packs.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';

const MAGIC = 'replaybook-pack 1\n';

export type Section = [name: string, data: Buffer];

/** The sections of an (uncompressed) pack buffer. */
export function sectionsOf(raw: Buffer): Section[] {
  const out: Section[] = [];
  let off = MAGIC.length;
  while (off < raw.length) {
    const n = raw.readUInt32LE(off);
    const name = raw.toString('utf8', off + 4, off + 4 + n);
    const len = Number(raw.readBigUInt64LE(off + 4 + n));
    const start = off + 4 + n + 8;
    out.push([name, raw.subarray(start, start + len)]);
    off = start + len;
  }
  return out;
}

export function readPack(file: string): Section[] {
  return sectionsOf(zlib.gunzipSync(fs.readFileSync(file)));
}

/** The uncompressed bytes of a pack made of these sections. */
export function packBytes(sections: Section[]): Buffer {
  const parts: Buffer[] = [Buffer.from(MAGIC)];
  for (const [name, data] of sections) {
    const n = Buffer.from(name, 'utf8');
    const head = Buffer.alloc(4 + n.length + 8);
    head.writeUInt32LE(n.length, 0);
    n.copy(head, 4);
    head.writeBigUInt64LE(BigInt(data.length), 4 + n.length);
    parts.push(head, data);
  }
  return Buffer.concat(parts);
}

export function writePack(file: string, sections: Section[]): void {
  fs.writeFileSync(file, zlib.gzipSync(packBytes(sections)));
}

/** A section's JSON, edited. */
export function editJson(data: Buffer, edit: (o: Record<string, unknown>) => void): Buffer {
  const o = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
  edit(o);
  return Buffer.from(JSON.stringify(o));
}
