// `replaybook export NOTEBOOK.ipynb [--out FILE.html]`: a notebook as one self-contained HTML file
// to share (src/export/export.ts).
import * as path from 'node:path';
import { ReplaybookError } from '../errors';
import { describeExport, exportNotebook } from '../export/export';
import { helpText, parseArgs, type CommandSpec } from './args';

export const EXPORT_SPEC: CommandSpec = {
  name: 'export',
  usage: 'replaybook export NOTEBOOK.ipynb [--out FILE.html]',
  summary:
    'Write a notebook as one self-contained HTML file to share: every cell with its outputs, every chart\n' +
    'drawn offline. The file refers to nothing on the network or the disk (images are inlined, the vega\n' +
    'scripts are included once), so it opens anywhere, even without a connection. Charts are interactive\n' +
    '(tooltips) where the browser runs scripts and show as PNG where it does not. Run the notebook first:\n' +
    'the export shows the outputs saved in it.',
  flags: [
    { name: 'out', value: 'FILE', help: 'where to write the HTML (default: the notebook with .html instead of .ipynb)' },
    { name: 'help', help: 'show this help' },
    { name: 'verbose', help: 'show stack traces on errors' },
  ],
  positionals: 1,
};

/** `replaybook export --help`. */
export const EXPORT_HELP = helpText(EXPORT_SPEC);

/** The line for `replaybook --help`'s command list. */
export const EXPORT_SUMMARY = '  export     write a notebook as one self-contained HTML file';

/** Runs `replaybook export ARGS...` (argv without the word `export`); returns the exit status. */
export async function exportCommand(argv: string[]): Promise<number> {
  try {
    const p = parseArgs(EXPORT_SPEC, argv);
    if (p.flags.has('help')) {
      process.stdout.write(EXPORT_HELP + '\n');
      return 0;
    }
    const notebook = p.positionals[0];
    if (!notebook) throw new ReplaybookError('usage', 'export needs a notebook: replaybook export NOTEBOOK.ipynb [--out FILE.html]');
    if (p.rest.length) throw new ReplaybookError('usage', `unexpected argument '${p.rest[0]}' for 'export' (see replaybook export --help)`);
    const out = p.flags.get('out');
    if (out === '') throw new ReplaybookError('usage', '--out needs a file name');
    const r = await exportNotebook(notebook, { out: typeof out === 'string' ? out : undefined });
    for (const w of r.warnings) process.stderr.write(`replaybook: warning: ${w}\n`);
    const shown = path.relative(process.cwd(), r.path);
    process.stdout.write(describeExport(r, shown && !shown.startsWith('..') ? shown : r.path) + '\n');
    return 0;
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`replaybook: ${err.message}\n`);
    if (argv.includes('--verbose') && err.stack) process.stderr.write(err.stack + '\n');
    return err instanceof ReplaybookError && err.code === 'usage' ? 2 : 1;
  }
}
