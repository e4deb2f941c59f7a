// `replaybook export` without a browser: what it refuses and how it says so, where it writes and
// how (atomically), the command's help and exit statuses, and the Markdown and terminal text it
// renders. test/browser.test.ts opens what it writes in Chromium.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ansiToHtml, defaultExportPath, exportNotebook } from '../src/export/export';
import { highlight, renderMarkdown } from '../src/export/markdown';
import { runProcess, type Ran } from './helpers/run';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-export-'));
const CLI = path.join(__dirname, '..', 'bin', 'replaybook.js');

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function exportCli(args: string[]): Promise<Ran> {
  return runProcess(process.execPath, [CLI, 'export', ...args], { ...process.env });
}

function notebook(cells: object[], metadata: object = {}): object {
  return { nbformat: 4, nbformat_minor: 5, metadata, cells };
}

function write(name: string, content: string | object): string {
  const file = path.join(work, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

const md = (source: string): object => ({ cell_type: 'markdown', metadata: {}, source });

describe('replaybook export', () => {
  it('refuses what is not a notebook with a message that says what is wrong', async () => {
    const cases: Array<[string, string | object | null, RegExp]> = [
      ['missing.ipynb', null, /^no notebook at '.*missing\.ipynb'$/],
      ['broken.ipynb', '{"cells": [', /is not a Jupyter notebook: it is not valid JSON/],
      ['list.ipynb', '[1, 2]', /is not a Jupyter notebook: it holds JSON, but not a notebook object/],
      ['nocells.ipynb', { nbformat: 4, metadata: {} }, /has no "cells" list/],
      ['v3.ipynb', { nbformat: 3, worksheets: [] }, /is in notebook format 3: open and save it in Jupyter to upgrade it to format 4/],
      ['badcell.ipynb', { nbformat: 4, cells: [{ source: 'x' }] }, /cell 1 has no cell_type/],
      ['badoutputs.ipynb', { nbformat: 4, cells: [{ cell_type: 'code', source: '', outputs: {} }] }, /the outputs of cell 1 are not a list/],
    ];
    for (const [name, content, message] of cases) {
      const file = content === null ? path.join(work, name) : write(name, content);
      await expect(exportNotebook(file), name).rejects.toThrow(message);
      const r = await exportCli([file]);
      expect(r.code, name).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n'), name).toHaveLength(1);
      expect(r.stderr, name).toMatch(/^replaybook: /);
      expect(fs.existsSync(defaultExportPath(file)), name).toBe(false);
    }
    fs.mkdirSync(path.join(work, 'dir.ipynb'));
    await expect(exportNotebook(path.join(work, 'dir.ipynb'))).rejects.toThrow(/is a directory, not a notebook/);
  });

  it('writes next to the notebook by default, or to --out, replacing the file atomically', async () => {
    const file = write('share/analysis.ipynb', notebook([md('# Analysis\n\nText.')]));
    expect(defaultExportPath(file)).toBe(path.join(work, 'share', 'analysis.html'));
    expect(defaultExportPath('/x/notes')).toBe('/x/notes.html');

    const r = await exportCli([file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*analysis\.html: 1 cells, no charts, [\d.]+ kB; it opens offline in any browser\n$/);
    const html = fs.readFileSync(path.join(work, 'share', 'analysis.html'), 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toContain('<title>Analysis</title>');
    // No vega scripts when there is no chart to draw.
    expect(html).not.toContain('vegaEmbed');

    // Replacing an existing file: it is swapped in whole, and no temporary file is left.
    const out = path.join(work, 'share', 'out.html');
    fs.writeFileSync(out, 'old');
    const inode = fs.statSync(out).ino;
    const again = await exportCli([file, '--out', out]);
    expect(again.code).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toContain('<h1 id="analysis">Analysis</h1>');
    expect(fs.statSync(out).ino).not.toBe(inode);
    expect(fs.readdirSync(path.join(work, 'share')).sort()).toEqual(['analysis.html', 'analysis.ipynb', 'out.html']);

    // Where it cannot write, it says so and leaves nothing behind.
    const noDir = await exportCli([file, '--out', path.join(work, 'nowhere', 'x.html')]);
    expect(noDir.code).toBe(1);
    expect(noDir.stderr).toMatch(/^replaybook: cannot write '.*x\.html': the directory '.*nowhere' does not exist\n$/);
    const itself = await exportCli([file, '--out', file]);
    expect(itself.code).toBe(2);
    expect(itself.stderr).toContain('is the notebook itself');
    fs.chmodSync(path.join(work, 'share'), 0o555);
    try {
      if (process.getuid?.() !== 0) {
        const ro = await exportCli([file, '--out', out]);
        expect(ro.code).toBe(1);
        expect(ro.stderr).toMatch(/cannot write/);
      }
    } finally {
      fs.chmodSync(path.join(work, 'share'), 0o755);
    }
    expect(fs.readdirSync(path.join(work, 'share')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('explains itself with --help and refuses wrong usage with status 2', async () => {
    const help = await exportCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: replaybook export NOTEBOOK.ipynb [--out FILE.html]');
    expect(help.stdout).toContain('--out FILE');
    expect(help.stdout).toContain('offline');
    for (const args of [[], ['a.ipynb', 'b.ipynb'], ['a.ipynb', '--bogus'], ['a.ipynb', '--out']]) {
      const r = await exportCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^replaybook: .+\n$/);
    }
  });

  it('warns about what it could not keep, and still writes the page', async () => {
    const file = write('warn/w.ipynb', notebook([md('![remote](https://example.com/x.png) ![gone](missing.png)')]));
    const r = await exportCli([file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("replaybook: warning: the image 'https://example.com/x.png' is not a local file");
    expect(r.stderr).toContain("replaybook: warning: the image 'missing.png' is not a local file");
    expect(fs.readFileSync(path.join(work, 'warn', 'w.html'), 'utf8')).toContain('[image: remote]');
  });
});

describe('Markdown in exported notebooks', () => {
  it('renders what notebook Markdown uses', () => {
    const html = renderMarkdown(
      [
        '# Title with `code`',
        'Sub',
        '---',
        'Some **bold**, *em*, _em too_, snake_case_name, ~~old~~, 2 * 3 * 4, `a < b`, [a link](https://example.com "t"),',
        'a bare https://example.com/x. and <https://example.org>; \\*not em\\*.  ',
        'next line',
        '',
        '- one',
        '- two',
        '  - nested',
        '',
        '3. three',
        '4. four',
        '',
        '> quoted',
        '',
        '| a | b |',
        '|:--|--:|',
        '| 1 | `x\\|y` |', // a pipe inside a cell is escaped, even in code (GitHub's tables)
        '',
        '```ts',
        'const x = "s"; // c',
        '```',
        '',
        '    indented <code>',
        '',
        '***',
        '<div class="raw">raw <b>html</b></div>',
        '',
        'A <span style="color:red">span</span> & an ampersand.',
      ].join('\n'),
    );
    expect(html).toContain('<h1 id="title-with-code">Title with <code>code</code></h1>');
    expect(html).toContain('<h2 id="sub">Sub</h2>');
    expect(html).toContain('Some <strong>bold</strong>, <em>em</em>, <em>em too</em>, snake_case_name, <del>old</del>, 2 * 3 * 4, <code>a &lt; b</code>');
    expect(html).toContain('<a href="https://example.com" title="t">a link</a>');
    expect(html).toContain('a bare <a href="https://example.com/x">https://example.com/x</a>. and <a href="https://example.org">https://example.org</a>; *not em*.<br>\nnext line</p>');
    expect(html).toContain('<ul>\n<li>one</li>\n<li>two\n<ul>\n<li>nested</li>\n</ul>\n</li>\n</ul>');
    expect(html).toContain('<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>');
    expect(html).toContain('<blockquote>\n<p>quoted</p>\n</blockquote>');
    expect(html).toContain('<th style="text-align:left">a</th>\n<th style="text-align:right">b</th>');
    expect(html).toContain('<td style="text-align:right"><code>x|y</code></td>');
    expect(html).toContain('<pre><code class="language-ts"><span class="hljs-keyword">const</span> x = <span class="hljs-string">&quot;s&quot;</span>; <span class="hljs-comment">// c</span>\n</code></pre>');
    expect(html).toContain('<pre><code>indented &lt;code&gt;\n</code></pre>');
    expect(html).toContain('<hr>');
    expect(html).toContain('<div class="raw">raw <b>html</b></div>');
    expect(html).toContain('A <span style="color:red">span</span> &amp; an ampersand.');
  });

  it('keeps links to safe schemes only, and resolves images through the exporter', () => {
    const html = renderMarkdown('[x](javascript:alert(1)) [y](data:text/html,hi) [z](#anchor) ![i](pic.png) ![j](gone.png)', {
      image: (src) => (src === 'pic.png' ? 'data:image/png;base64,AAAA' : null),
    });
    expect(html).not.toContain('javascript:');
    expect(html).not.toContain('data:text/html');
    expect(html).toContain('<a href="#anchor">z</a>');
    expect(html).toContain('<img src="data:image/png;base64,AAAA" alt="i">');
    expect(html).toContain('<span class="rb-missing-image" title="gone.png">[image: j]</span>');
  });

  it('gives headings unique ids across cells', () => {
    const ids = new Set<string>();
    expect(renderMarkdown('## Result', { ids })).toContain('id="result"');
    expect(renderMarkdown('## Result', { ids })).toContain('id="result-1"');
  });

  it('highlights TypeScript and Python, and leaves other code as escaped text', () => {
    expect(highlight('await replay(id) // go', 'typescript')).toBe(
      '<span class="hljs-keyword">await</span> <span class="hljs-title function_">replay</span>(id) <span class="hljs-comment">// go</span>',
    );
    expect(highlight("def f(): return 'x' # c", 'python')).toBe(
      '<span class="hljs-keyword">def</span> <span class="hljs-title function_">f</span>(): <span class="hljs-keyword">return</span> <span class="hljs-string">&#x27;x&#x27;</span> <span class="hljs-comment"># c</span>',
    );
    expect(highlight('a < b', 'rust')).toBe('a &lt; b');
  });
});

describe('terminal output in exported notebooks', () => {
  it('shows colours as spans, the last overwrite of a progress line, and escapes the rest', () => {
    expect(ansiToHtml('\x1b[1;31mError\x1b[0m: <bad>')).toBe('<span style="color:#c4332e;font-weight:bold">Error</span>: &lt;bad&gt;');
    expect(ansiToHtml('10%\r50%\r100%\ndone\n')).toBe('100%\ndone\n');
    expect(ansiToHtml('ab\x08c\x1b[2K')).toBe('ac');
  });
});
