// The notebook's sql`...` tag: every interpolated value becomes a query parameter (or a constant
// the tag writes itself), identifiers are quoted, and a real chDB store runs the result with the
// hostile values read back as data.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplaybookError } from '../src/errors';
import { SQL_VALUE, SqlFragment, fragment, id, join, raw, toQuery } from '../src/notebook/sql';
import { openStore, type ChdbStore } from '../src/store';
import { eventBatch, incidentInfo, syntheticEvents } from './helpers/store-fixtures';

const q = (strings: TemplateStringsArray, ...values: unknown[]) => toQuery(fragment(strings, ...values));

describe('sql quoting', () => {
  it('sends strings, numbers and bigints as typed parameters, in order', () => {
    const r = q`SELECT * FROM events WHERE incident_id = ${"it's"} AND seq > ${41} AND dur_ns > ${2.5} AND args[1] = ${2n ** 64n - 1n} AND ret = ${-110n}`;
    expect(r.text).toBe(
      'SELECT * FROM events WHERE incident_id = {rb_p0:String} AND seq > {rb_p1:Int64} AND dur_ns > {rb_p2:Float64} AND args[1] = {rb_p3:UInt64} AND ret = {rb_p4:Int64}',
    );
    expect(r.params).toEqual({ rb_p0: "it's", rb_p1: 41, rb_p2: 2.5, rb_p3: 2n ** 64n - 1n, rb_p4: -110n });
  });

  it('never puts a value in the text, however it is written', () => {
    const hostile = [
      "x' OR 1=1 --",
      'x\\\' OR 1=1 --',
      '{rb_p1:String}',
      '`; DROP TABLE events; --',
      '\0\n\r\t\u2028',
      "caf\u00e9 \u{1F600}",
    ];
    for (const h of hostile) {
      const r = q`SELECT ${h} AS a`;
      expect(r.text).toBe('SELECT {rb_p0:String} AS a');
      expect(r.params.rb_p0).toBe(h);
    }
  });

  it('writes constants for null, booleans and non-finite numbers, and refuses what it cannot send', () => {
    expect(q`SELECT ${null}, ${undefined}, ${true}, ${false}, ${NaN}, ${Infinity}, ${-Infinity}`.text).toBe('SELECT NULL, NULL, true, false, nan, inf, -inf');
    expect(() => q`SELECT ${2n ** 64n}`).toThrow(/does not fit in 64 bits/);
    expect(() => q`SELECT ${-(2n ** 63n) - 1n}`).toThrow(ReplaybookError);
    expect(() => q`SELECT ${{ a: 1 }}`).toThrow(/cannot be a query value/);
    expect(() => q`SELECT ${() => 1}`).toThrow(/function cannot be a query value/);
    expect(() => q`SELECT ${Symbol('s')}`).toThrow(ReplaybookError);
    expect(() => q`SELECT ${new Date(NaN)}`).toThrow(/invalid Date/);
  });

  it('expands arrays, dates and bytes into parameters', () => {
    const r = q`WHERE name IN ${['read', 'write']} AND t > ${new Date(Date.UTC(2024, 4, 1, 12, 0, 0, 123))} AND data_in = ${Buffer.from([0, 0xff, 0x27])} AND x IN ${[]}`;
    expect(r.text).toBe("WHERE name IN [{rb_p0:String}, {rb_p1:String}] AND t > {rb_p2:DateTime64(3, 'UTC')} AND data_in = unhex({rb_p3:String}) AND x IN []");
    expect(r.params).toEqual({ rb_p0: 'read', rb_p1: 'write', rb_p2: '2024-05-01 12:00:00.123', rb_p3: '00ff27' });
  });

  it('nests fragments, numbering their parameters with the outer ones', () => {
    const cond = fragment`seq > ${10} AND name = ${'poll'}`;
    const r = q`SELECT * FROM events WHERE incident_id = ${'a'} AND ${cond} AND ${join([fragment`x = ${1}`, fragment`y = ${2}`], ' OR ')}`;
    expect(r.text).toBe('SELECT * FROM events WHERE incident_id = {rb_p0:String} AND seq > {rb_p1:Int64} AND name = {rb_p2:String} AND x = {rb_p3:Int64} OR y = {rb_p4:Int64}');
    expect(Object.keys(r.params)).toHaveLength(5);
    expect(cond).toBeInstanceOf(SqlFragment);
  });

  it('quotes identifiers and pastes raw text only when asked', () => {
    expect(q`SELECT ${id('dur_ns')} FROM ${id('default', 'events')}`.text).toBe('SELECT `dur_ns` FROM `default`.`events`');
    expect(q`SELECT ${id('we`ird\\name')}`.text).toBe('SELECT `we\\`ird\\\\name`');
    expect(() => id('')).toThrow(ReplaybookError);
    expect(() => id('a\0b')).toThrow(ReplaybookError);
    expect(q`SELECT ${raw('count()')} FROM events`.text).toBe('SELECT count() FROM events');
  });

  it('uses what an incident or a run stands for', () => {
    const incident = { [SQL_VALUE]: () => 'INC-42' };
    const r = q`WHERE incident_id = ${incident}`;
    expect(r).toEqual({ text: 'WHERE incident_id = {rb_p0:String}', params: { rb_p0: 'INC-42' } });
  });
});

describe('sql against chDB', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-sql-'));
  let store: ChdbStore;
  // Ids follow a rule that keeps quotes out (events/ids.ts); other columns hold any text.
  const hostile = "inc'; DROP TABLE events; --";

  beforeAll(async () => {
    store = await openStore(dir);
    const rows = syntheticEvents('inc-hostile', 20).map((r) => ({ ...r, resource: hostile }));
    await store.putIncident(incidentInfo('inc-hostile', { event_count: 20 }), [eventBatch(rows)], new Map());
  });
  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('finds rows by a hostile value, and the table is still there', async () => {
    const r = q`SELECT count() AS n, uniqExact(name) AS names FROM events WHERE resource = ${hostile} AND name IN ${['read', 'write']} AND seq >= ${0n}`;
    const t = await store.query(r.text, r.params);
    expect(Number(t.getChild('n')?.get(0))).toBe(20);
    expect(Number(t.getChild('names')?.get(0))).toBe(2);
    const again = await store.query('SELECT count() AS n FROM events');
    expect(Number(again.getChild('n')?.get(0))).toBe(20);
  });

  it('reads values back exactly as given', async () => {
    const values = ["x' OR 1=1 --", '{rb_p0:String}', 'caf\u00e9 \u{1F600}', 'back\\slash'];
    for (const v of values) {
      const r = q`SELECT ${v} AS s, ${-5} AS i, ${2.25} AS f, ${true} AS b, ${new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6))} AS d, ${Buffer.from('hi')} AS raw`;
      const t = await store.query(r.text, r.params);
      expect(t.getChild('s')?.get(0)).toBe(v);
      expect(Number(t.getChild('i')?.get(0))).toBe(-5);
      expect(t.getChild('f')?.get(0)).toBe(2.25);
      expect(t.getChild('b')?.get(0)).toBe(true);
      expect(Number(t.getChild('d')?.get(0))).toBe(Date.UTC(2024, 0, 2, 3, 4, 5, 6));
      expect(t.getChild('raw')?.get(0)).toBe('hi');
    }
  });
});
