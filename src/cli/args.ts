// A small, strict command-line parser: flags are declared per command, unknown ones are errors,
// and `--` ends the options (everything after it is the recorded command).
import { ReplaybookError } from '../errors';

export interface FlagSpec {
  name: string;
  /** Takes a value (`--speed max`, `--speed=max`); otherwise a boolean switch. */
  value?: string;
  help: string;
  /** May be given more than once; every value is kept, in order, in Parsed.repeated. */
  repeat?: boolean;
}

export interface CommandSpec {
  name: string;
  usage: string;
  summary: string;
  flags: FlagSpec[];
  /** Positional arguments allowed (before `--`). */
  positionals: number;
}

export interface Parsed {
  /** Each flag's value (for a repeatable flag, its last one). */
  flags: Map<string, string | true>;
  /** Every value of the repeatable flags, in command-line order across flags. */
  repeated: Array<{ name: string; value: string }>;
  positionals: string[];
  /** Words after `--`. */
  rest: string[];
}

export function parseArgs(spec: CommandSpec, argv: string[]): Parsed {
  const flags = new Map<string, string | true>();
  const repeated: Parsed['repeated'] = [];
  const positionals: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest = argv.slice(i + 1);
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const f = spec.flags.find((x) => x.name === name);
      if (!f) throw new ReplaybookError('usage', `unknown option --${name} for '${spec.name}' (see replaybook ${spec.name} --help)`);
      if (f.value) {
        const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new ReplaybookError('usage', `--${name} needs a value: ${f.value}`);
        flags.set(name, v);
        if (f.repeat) repeated.push({ name, value: v });
      } else {
        if (eq >= 0) throw new ReplaybookError('usage', `--${name} takes no value`);
        flags.set(name, true);
      }
    } else {
      positionals.push(a);
    }
  }
  if (positionals.length > spec.positionals) {
    throw new ReplaybookError('usage', `unexpected argument '${positionals[spec.positionals]}' for '${spec.name}' (see replaybook ${spec.name} --help)`);
  }
  return { flags, repeated, positionals, rest };
}

export function helpText(spec: CommandSpec): string {
  const width = Math.max(...spec.flags.map((f) => f.name.length + (f.value ? f.value.length + 1 : 0) + (f.repeat ? 4 : 0)), 8) + 4;
  const lines = [`usage: ${spec.usage}`, '', spec.summary, ''];
  if (spec.flags.length) {
    lines.push('options:');
    for (const f of spec.flags) {
      const left = `--${f.name}${f.value ? ' ' + f.value : ''}${f.repeat ? ' ...' : ''}`;
      lines.push(`  ${left.padEnd(width)}${f.help}`);
    }
  }
  return lines.join('\n');
}

/** "2h", "30m", "7d" before now, or an ISO date/time. */
export function parseSince(s: string, now = Date.now()): Date {
  const rel = /^(\d+)([smhd])$/.exec(s);
  if (rel) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(rel[1]) * unit);
  }
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new ReplaybookError('usage', `--since '${s}' is neither a duration (30m, 2h, 7d) nor a date (2026-11-27T10:00)`);
  return d;
}
