// Removing incidents and collecting garbage: the same statements and the same order in every
// store, run over whatever connection the store has.

import * as sql from './sql';
import type { GarbageOptions, GarbageReport, Removed } from './types';

type Params = Record<string, string | number | bigint | readonly string[]>;

/** What a store's connection offers the steps below. */
export interface SqlRunner {
  rows<T>(query: string, params?: Params): Promise<T[]>;
  exec(statement: string, params?: Params): Promise<void>;
}

const count = (rows: Array<{ n: string | number }>) => Number(rows[0]?.n ?? 0);

/**
 * Removes an incident, its runs and every event stored under its id (committed or left by an
 * interrupted insert). Null when the store has nothing under that id. Blobs stay until garbage
 * collection (another incident may use them).
 */
export async function removeIncident(db: SqlRunner, incidentId: string, layout: sql.SchemaOptions = {}): Promise<Removed | null> {
  const ids = { incident_id: incidentId };
  const incident = count(await db.rows(sql.INCIDENT_EXISTS, ids)) > 0;
  const runs = count(await db.rows(sql.COUNT_INCIDENT_RUNS, ids));
  const events = count(await db.rows(sql.COUNT_INCIDENT_EVENTS, ids));
  if (!incident && runs === 0 && events === 0) return null;
  for (const statement of sql.deleteIncident(layout)) await db.exec(statement, ids);
  return { incident, runs, events };
}

/** Removes unreferenced blobs (and, if asked, uncommitted events); says what it found. */
export async function collectGarbage(db: SqlRunner, options: GarbageOptions = {}, layout: sql.SchemaOptions = {}): Promise<GarbageReport> {
  const unreferenced = await db.rows<{ sha256: string; size: string | number }>(sql.UNREFERENCED_BLOBS);
  const blobs = unreferenced.map((b) => b.sha256);
  if (blobs.length > 0) await db.exec(sql.deleteBlobs(layout), { shas: blobs });
  const uncommitted = (await db.rows<{ incident_id: string; run_id: string; n: string }>(sql.UNCOMMITTED_RUNS)).map((r) => ({
    incident_id: r.incident_id,
    run_id: r.run_id,
    events: Number(r.n),
  }));
  if (options.uncommitted) {
    for (const r of uncommitted) await db.exec(sql.deleteRunEvents(layout), { incident_id: r.incident_id, run_id: r.run_id });
  }
  return {
    blobs,
    bytes: unreferenced.reduce((n, b) => n + Number(b.size), 0),
    uncommitted,
    uncommittedRemoved: Boolean(options.uncommitted) && uncommitted.length > 0,
  };
}

