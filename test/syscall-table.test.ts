// The syscall table is the one place that knows about syscalls (native/syscalls.cc), and
// src/events/syscall-table.ts is its TypeScript view, generated at build time. These tests keep
// it so: the view matches the table, and no other file decides behaviour by a syscall's name.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { syscallRows, syscallByName, payloadOf, timeoutSyscalls, argWithRole } from '../src/events/syscalls';

const root = join(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const gen = require('../scripts/gen-syscall-table.js') as { generate(): string; target: string };

function files(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) {
      if (e !== 'build' && e !== 'node_modules') out.push(...files(p, exts));
    } else if (exts.some((x) => e.endsWith(x))) out.push(p);
  }
  return out;
}

// The files that may name syscalls: the table, its generated view and the module that reads it.
const TABLE_FILES = new Set(['native/syscalls.cc', 'src/events/syscall-table.ts']);

/**
 * Places where a file decides something by a syscall's name: a comparison of a name-like
 * expression (`name`, `e.name`, `spec->name`, `syscall`) with a syscall's name, a `case` of one,
 * a lookup of one in a set, or a list literal holding two or more of them.
 */
function nameDecisions(text: string, names: Set<string>): string[] {
  const hits: string[] = [];
  const lit = String.raw`['"]([a-z_][a-z0-9_]*)['"]`;
  const nameExpr = String.raw`[\w.>\-\]\[()]*(?:name|Name|syscall)\b[\w()]*`;
  const patterns = [
    new RegExp(String.raw`${nameExpr}\s*(?:===|!==|==|!=)\s*${lit}`, 'g'),
    new RegExp(String.raw`${lit}\s*(?:===|!==|==|!=)\s*${nameExpr}`, 'g'),
    new RegExp(String.raw`\bnamed\([^)]*${lit}`, 'g'),
    new RegExp(String.raw`strcmp\([^)]*${lit}\)`, 'g'),
    new RegExp(String.raw`\.(?:has|includes)\(${lit}\)`, 'g'),
  ];
  for (const re of patterns) {
    for (const m of text.matchAll(re)) if (names.has(m[1])) hits.push(m[0]);
  }
  // `case 'NAME':` in a switch over a name-like expression.
  for (const m of text.matchAll(/switch\s*\(([^)]*)\)\s*\{/g)) {
    if (!/name|syscall/i.test(m[1])) continue;
    let depth = 0;
    let end = (m.index ?? 0) + m[0].length - 1;
    for (; end < text.length; end++) {
      if (text[end] === '{') depth++;
      else if (text[end] === '}' && --depth === 0) break;
    }
    for (const c of text.slice(m.index ?? 0, end).matchAll(new RegExp(String.raw`\bcase\s+${lit}\s*:`, 'g'))) {
      if (names.has(c[1])) hits.push(c[0]);
    }
  }
  // A list of syscall names: two or more of them in one bracketed literal.
  for (const m of text.matchAll(/[[{(]\s*((?:['"][a-z_][a-z0-9_]*['"]\s*[,:]?\s*(?:[\w.:]+\s*[,}]\s*)?(?:,\s*)?){2,})[\]})]/g)) {
    const all = [...m[1].matchAll(/['"]([a-z_][a-z0-9_]*)['"]/g)].map((x) => x[1]);
    const named = new Set(all.filter((n) => names.has(n)));
    if (named.size >= 2 && named.size * 2 >= new Set(all).size) hits.push(m[0].slice(0, 80));
  }
  // A word list in a template string: `read write readv ...`.
  for (const m of text.matchAll(/`([a-z0-9_\s]+)`/g)) {
    const inList = m[1].split(/\s+/).filter((n) => names.has(n));
    if (inList.length >= 3) hits.push(m[0].slice(0, 80));
  }
  return hits;
}

describe('the syscall table', () => {
  it('src/events/syscall-table.ts is what native/syscalls.cc says (rebuild: npm run build)', () => {
    expect(readFileSync(gen.target, 'utf8')).toBe(gen.generate());
  });

  it('no TypeScript or C++ file outside the table decides by a syscall name', () => {
    const names = new Set(syscallRows().map((r) => r.name));
    const scanned = [...files(join(root, 'src'), ['.ts']), ...files(join(root, 'native'), ['.cc', '.h'])];
    expect(scanned.length).toBeGreaterThan(20);
    const found: string[] = [];
    for (const f of scanned) {
      const rel = relative(root, f);
      if (TABLE_FILES.has(rel)) continue;
      for (const hit of nameDecisions(readFileSync(f, 'utf8'), names)) found.push(`${rel}: ${hit}`);
    }
    expect(found).toEqual([]);
  });

  it('the guard finds each way of naming a syscall', () => {
    const names = new Set(['read', 'write', 'poll']);
    expect(nameDecisions(`if (e.name == "read") x();`, names)).toHaveLength(1);
    expect(nameDecisions(`if ('poll' === name) x();`, names)).toHaveLength(1);
    expect(nameDecisions(`const S = new Set(['read', 'write']);`, names)).toHaveLength(1);
    expect(nameDecisions(`if (SEND.has('write')) x();`, names)).toHaveLength(1);
    expect(nameDecisions(`if (named(s, {"read", "write"}))`, names).length).toBeGreaterThan(0);
    expect(nameDecisions(`if (strcmp(s.name, "poll") == 0)`, names).length).toBeGreaterThan(0);
    expect(nameDecisions(`const R = ['stdin', 'stdout', 'pipe', 'fd'];`, new Set(['pipe']))).toEqual([]);
    expect(nameDecisions('assign(`read write poll`)', names)).toHaveLength(1);
    expect(nameDecisions(`switch (e.name) { case 'poll': return 1; }`, names)).toHaveLength(1);
    expect(nameDecisions(`switch (scheme) { case 'pipe': return 1; }`, new Set(['pipe']))).toEqual([]);
    expect(nameDecisions(`if (verb == "pause") x(); if (kind === 'exit') y();`, names)).toEqual([]);
  });

  it('rows agree with themselves', () => {
    for (const r of syscallRows()) {
      // A call served by a readiness handler waits for readiness, and a timeout role means a wait.
      if (['poll', 'ppoll', 'select', 'pselect', 'epoll_wait'].includes(r.handler)) expect(r.traits, r.name).toContain('ready');
      if (r.args.some((a) => a.role === 'ms' || a.role === 'timespec' || a.role === 'timeval')) {
        expect(r.traits.includes('ready') || r.handler === 'sleep' || r.handler === 'sleep_clock', r.name).toBe(true);
      }
      if (r.family) expect(syscallByName(r.family), `${r.name}'s family`).toBeDefined();
      if (r.flow === 'read_at' || r.flow === 'write_at') expect(argWithRole(r.name, 'off'), r.name).toBeGreaterThanOrEqual(0);
      if (r.fdEffect === 'uses') expect(r.fdArg, r.name).toBeGreaterThanOrEqual(0);
      // A call the fast path records in-process (docs/fast-path.md) has only buffers its blob can
      // size by itself, and nothing the recorder does at its stop besides capturing.
      if (r.traits.includes('fast')) {
        expect(r.special, r.name).toBe('none');
        expect(r.flow, r.name).not.toBe('copy');
        for (const a of r.args.filter((x) => x.size !== undefined)) {
          expect(['in', 'out'], `${r.name}'s buffer`).toContain(a.kind);
          expect(['fixed', 'arg', 'ret', 'ret_max'], `${r.name}'s buffer`).toContain(a.size);
          expect(a.at, `${r.name}'s buffer`).toBeUndefined();
        }
      }
    }
    expect(syscallRows().filter((r) => r.traits.includes('fast')).length).toBeGreaterThanOrEqual(4);
    expect(timeoutSyscalls()).toEqual(expect.arrayContaining(['poll', 'select', 'epoll_wait']));
  });

  it('a payload is the first of several buffers, cut at the return value', () => {
    const part = Buffer.from('hello world');
    const addr = Buffer.from([2, 0, 1, 2]);
    const joined = Buffer.concat([Buffer.from([part.length, 0, 0, 0]), part, Buffer.from([addr.length, 0, 0, 0]), addr]);
    expect(Buffer.from(payloadOf('sendto', joined, true, 5)).toString()).toBe('hello');
    expect(Buffer.from(payloadOf('write', part, true, 5)).toString()).toBe('hello');
    expect(Buffer.from(payloadOf('write', part, true)).toString()).toBe('hello world');
  });
});
