// Frames and variables of a paused replay: gdb (over MI, src/replay/gdb-mi.ts) attaches to the
// engine's gdbserver for each question, reads what it needs, and detaches; the replay stays
// where it is. gdb finds debug info as it always does: in the binary, or a separate debug file
// (debuglink or build-id under /usr/lib/debug).
import * as fs from 'node:fs';
import { ReplaybookError } from '../errors';
import { GdbMi, miList, miQuote, miStr, type MiValue } from './gdb-mi';

/** One frame of a thread's stack, innermost first. */
export interface Frame {
  level: number;
  /** The function, from debug info or the symbol table; null when gdb knows no name. */
  function: string | null;
  /** Source file and line, when there is debug info for that code. */
  file: string | null;
  line: number | null;
  address: bigint;
  /** The shared library the code is in (null: the program itself, or unknown). */
  library: string | null;
}

/** A thread's stack (recorded tid). */
export interface ThreadFrames {
  tid: number;
  frames: Frame[];
}

/** A local variable or argument of a frame, its value as gdb prints it. */
export interface Variable {
  name: string;
  type: string | null;
  value: string;
  argument: boolean;
}

/** The variables of one frame, or why there are none (no debug info). */
export interface FrameVariables {
  tid: number;
  frame: Frame;
  variables: Variable[];
  message: string | null;
}

/** Which frame `variables()` shows: by default the program's innermost frame (not a library's)
 * in the thread whose event is next. */
export interface FrameSelector {
  /** Recorded tid (default: the thread whose event is next). */
  thread?: number;
  /** Frame level (0 = innermost). */
  frame?: number;
}

/** Where gdb reaches the paused replay. */
export interface GdbTarget {
  port: number;
  /** A real tid of the replayed process: its /proc/TID/root is the replay's view of the files
   * (recorded bytes mounted over the recorded paths), where gdb reads shared libraries. */
  realTid: number | null;
}

export const NO_DEBUG_INFO =
  'rebuild it with -g, or install its debug symbols (the distribution\'s -dbgsym or -dbg package, or a debug file under /usr/lib/debug/.build-id)';

function samePath(a: string, b: string): boolean {
  try {
    return a === b || fs.realpathSync(a) === fs.realpathSync(b);
  } catch {
    return false;
  }
}

function frameOf(v: MiValue): Frame {
  const line = miStr(v, 'line');
  return {
    level: Number(miStr(v, 'level') ?? 0),
    function: miStr(v, 'func'),
    file: miStr(v, 'fullname') ?? miStr(v, 'file'),
    line: line === null ? null : Number(line),
    address: BigInt(miStr(v, 'addr') ?? '0'),
    library: miStr(v, 'from'),
  };
}

/** A gdb with the program's symbols loaded, attached to the replay for each question. */
export class Inspector {
  private gdb: GdbMi | null = null;
  private loaded: Promise<void> | null = null;

  constructor(private readonly exe: string) {}

  private start(): GdbMi {
    if (!this.gdb) {
      if (!fs.existsSync('/usr/bin/gdb')) throw new ReplaybookError('no_gdb', 'gdb is not installed: apt-get install gdb');
      const gdb = new GdbMi();
      this.gdb = gdb;
      this.loaded = (async () => {
        for (const c of ['-gdb-set pagination off', '-gdb-set confirm off', '-gdb-set print pretty off', '-gdb-set auto-load safe-path /'])
          await gdb.command(c);
        await gdb.command(`-file-exec-and-symbols ${miQuote(this.exe)}`);
      })();
    }
    return this.gdb;
  }

  private async attached<T>(target: GdbTarget, fn: (gdb: GdbMi) => Promise<T>): Promise<T> {
    const gdb = this.start();
    await this.loaded;
    const root = target.realTid !== null ? `/proc/${target.realTid}/root` : '/';
    // (a word, not quoted: gdb would keep the quotes in the path)
    await gdb.command(`-gdb-set sysroot ${fs.existsSync(root) ? root : '/'}`);
    await gdb.command(`-target-select remote 127.0.0.1:${target.port}`);
    try {
      return await fn(gdb);
    } finally {
      await gdb.command('-target-disconnect').catch(() => undefined);
    }
  }

  private async threads(gdb: GdbMi): Promise<{ id: string; tid: number }[]> {
    const r = await gdb.command('-thread-info');
    return miList(r.results, 'threads').map((t) => {
      const target = miStr(t, 'target-id') ?? '';
      const m = /(\d+)\s*$/.exec(target.replace(/\)$/, ''));
      return { id: miStr(t, 'id') ?? '1', tid: m ? Number(m[1]) : 0 };
    });
  }

  private async frames(gdb: GdbMi, id: string): Promise<Frame[]> {
    const r = await gdb.command(`-stack-list-frames --thread ${id}`);
    const frames = miList(r.results, 'stack').map(frameOf);
    // The object each frame's code is in: "f in section .text of /lib/x86_64-linux-gnu/libc.so.6"
    // (the sysroot prefix dropped), or no "of" for the program itself.
    for (const f of frames) {
      if (f.library !== null || f.address === 0n) continue;
      const info = await gdb.command(`-interpreter-exec console ${miQuote(`info symbol 0x${f.address.toString(16)}`)}`).catch(() => null);
      const m = info && / of (\S+)\s*$/.exec(info.console.trim());
      const lib = m ? m[1].replace(/^\/proc\/\d+\/root/, '') : null;
      if (lib !== null && !samePath(lib, this.exe)) f.library = lib;
    }
    return frames;
  }

  async backtrace(target: GdbTarget): Promise<ThreadFrames[]> {
    return this.attached(target, async (gdb) => {
      const out: ThreadFrames[] = [];
      for (const t of await this.threads(gdb)) out.push({ tid: t.tid, frames: await this.frames(gdb, t.id) });
      return out;
    });
  }

  async variables(target: GdbTarget, sel: FrameSelector = {}): Promise<FrameVariables> {
    return this.attached(target, async (gdb) => {
      const threads = await this.threads(gdb);
      if (threads.length === 0) throw new ReplaybookError('no_thread', 'no thread of the replayed process is stopped');
      const t = sel.thread === undefined ? threads[0] : threads.find((x) => x.tid === sel.thread);
      if (!t) throw new ReplaybookError('no_thread', `thread ${sel.thread} is not stopped in the replay (stopped: ${threads.map((x) => x.tid).join(', ')})`);
      const frames = await this.frames(gdb, t.id);
      if (frames.length === 0) throw new ReplaybookError('no_frame', `thread ${t.tid} has no frames`);
      let frame: Frame | undefined;
      // By default the program's own innermost frame, not a library's (where the thread sits in
      // its syscall): without debug info for the program, that says so.
      if (sel.frame === undefined) frame = frames.find((f) => f.library === null) ?? frames.find((f) => f.file !== null) ?? frames[0];
      else frame = frames.find((f) => f.level === sel.frame);
      if (!frame) throw new ReplaybookError('no_frame', `thread ${t.tid} has frames 0 to ${frames.length - 1}, not ${sel.frame}`);
      if (frame.file === null) {
        const where = frame.library ?? this.exe;
        const any = frames.some((f) => f.file !== null);
        return {
          tid: t.tid,
          frame,
          variables: [],
          message:
            `${frame.function ?? 'this code'} (frame ${frame.level}) has no debug info in ${where}: ${NO_DEBUG_INFO}` +
            (sel.frame === undefined && !any ? '; no frame of this thread has any' : ''),
        };
      }
      const at = `--thread ${t.id} --frame ${frame.level}`;
      const typed = await gdb.command(`-stack-list-variables ${at} --simple-values`);
      const valued = await gdb.command(`-stack-list-variables ${at} --all-values`);
      const types = new Map<string, string | null>();
      for (const v of miList(typed.results, 'variables')) types.set(miStr(v, 'name') ?? '', miStr(v, 'type'));
      const variables = miList(valued.results, 'variables').map((v) => {
        const name = miStr(v, 'name') ?? '';
        return { name, type: types.get(name) ?? null, value: miStr(v, 'value') ?? '<unavailable>', argument: miStr(v, 'arg') === '1' };
      });
      return { tid: t.tid, frame, variables, message: null };
    });
  }

  async close(): Promise<void> {
    const gdb = this.gdb;
    this.gdb = null;
    if (gdb) await gdb.close();
  }
}
