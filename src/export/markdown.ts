// Markdown to HTML for exported notebooks: the Markdown people write in Jupyter cells (headings,
// paragraphs, emphasis, code, lists, quotes, tables, links, images, raw HTML), rendered without a
// browser or a network. Not a full CommonMark implementation: what it does not know stays
// readable as text. Images go through a resolver so the exporter can inline them; raw HTML is
// passed through for the exporter to make offline.
import { escapeHtml } from '../escape';

export interface MarkdownOptions {
  /** The URL to put in an <img>, given the Markdown's src (null: show the alt text instead). */
  image?: (src: string, alt: string) => string | null;
  /** Heading ids already used on the page (ids get a -1, -2... suffix when taken). */
  ids?: Set<string>;
}

interface Ctx {
  image: (src: string, alt: string) => string | null;
  ids: Set<string>;
}

/** Renders Markdown source to HTML. */
export function renderMarkdown(source: string, opts: MarkdownOptions = {}): string {
  const ctx: Ctx = { image: opts.image ?? ((src) => src), ids: opts.ids ?? new Set() };
  const lines = source.replace(/\r\n?/g, '\n').replace(/\0/g, '\uFFFD').split('\n').map(expandTabs);
  return blocks(lines, ctx);
}

function expandTabs(line: string): string {
  if (!line.includes('\t')) return line;
  let out = '';
  for (const ch of line) out += ch === '\t' ? ' '.repeat(4 - (out.length % 4)) : ch;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Blocks

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const ATX = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const HR = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?/;
const BULLET = /^( {0,3})([-*+])( +|$)(.*)$/;
const ORDERED = /^( {0,3})(\d{1,9})([.)])( +|$)(.*)$/;
const HTML_BLOCK = /^ {0,3}<(?:!--|\/?[a-zA-Z][a-zA-Z0-9-]*(?:[\s/>]|$))/;
const TABLE_DELIM = /^ *\|? *:?-+:? *(?:\| *:?-+:? *)*\|? *$/;
const SETEXT = /^ {0,3}(=+|-+)[ \t]*$/;
const blank = (s: string | undefined): boolean => s === undefined || s.trim() === '';

interface ListMarker {
  indent: number;
  /** Where the item's content starts (columns). */
  content: number;
  ordered: boolean;
  /** The bullet character or the ordered delimiter. */
  kind: string;
  start: number;
  rest: string;
}

function listMarker(line: string): ListMarker | null {
  const b = BULLET.exec(line);
  if (b && !HR.test(line)) {
    const spaces = b[3].length > 4 ? 1 : Math.max(1, b[3].length);
    return { indent: b[1].length, content: b[1].length + 1 + spaces, ordered: false, kind: b[2], start: 1, rest: b[3].length > 4 ? ' '.repeat(b[3].length - 1) + b[4] : b[4] };
  }
  const o = ORDERED.exec(line);
  if (o) {
    const spaces = o[4].length > 4 ? 1 : Math.max(1, o[4].length);
    return { indent: o[1].length, content: o[1].length + o[2].length + 1 + spaces, ordered: true, kind: o[3], start: Number(o[2]), rest: o[4].length > 4 ? ' '.repeat(o[4].length - 1) + o[5] : o[5] };
  }
  return null;
}

/** Whether a line starts a block that ends a paragraph. */
function interrupts(line: string): boolean {
  if (FENCE.test(line) || ATX.test(line) || HR.test(line) || QUOTE.test(line) || HTML_BLOCK.test(line)) return true;
  const m = listMarker(line);
  // An ordered list interrupts a paragraph only when it starts at 1, and no empty item does.
  return m !== null && m.rest.trim() !== '' && (!m.ordered || m.start === 1);
}

function splitRow(line: string): string[] {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  const cells: string[] = [];
  let cur = '';
  let code = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && s[i + 1] === '|') {
      cur += '|';
      i++;
    } else if (c === '`') {
      code = !code;
      cur += c;
    } else if (c === '|' && !code) {
      cells.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  cells.push(cur.trim());
  return cells;
}

function slug(text: string, ids: Set<string>): string {
  const base =
    text
      .toLowerCase()
      .replace(/<[^>]*>/g, '')
      .replace(/&[a-z0-9#]+;/g, '')
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .trim()
      .replace(/\s+/g, '-') || 'section';
  let id = base;
  for (let n = 1; ids.has(id); n++) id = `${base}-${n}`;
  ids.add(id);
  return id;
}

function heading(level: number, text: string, ctx: Ctx): string {
  const html = inline(text.trim(), ctx);
  return `<h${level} id="${escapeHtml(slug(html, ctx.ids))}">${html}</h${level}>\n`;
}

function blocks(lines: string[], ctx: Ctx): string {
  let out = '';
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (blank(line)) {
      i++;
      continue;
    }

    const fence = FENCE.exec(line);
    if (fence) {
      const marker = fence[1];
      const indent = line.length - line.trimStart().length;
      const body: string[] = [];
      i++;
      while (i < lines.length) {
        const close = new RegExp(`^ {0,3}${marker[0] === '`' ? '`' : '~'}{${marker.length},}[ \\t]*$`);
        if (close.test(lines[i])) {
          i++;
          break;
        }
        body.push(lines[i].replace(new RegExp(`^ {0,${indent}}`), ''));
        i++;
      }
      out += codeBlock(body.join('\n'), fence[2]);
      continue;
    }

    const atx = ATX.exec(line);
    if (atx) {
      out += heading(atx[1].length, atx[2] ?? '', ctx);
      i++;
      continue;
    }

    if (HR.test(line)) {
      out += '<hr>\n';
      i++;
      continue;
    }

    if (QUOTE.test(line)) {
      const inner: string[] = [];
      while (i < lines.length && !blank(lines[i])) {
        if (QUOTE.test(lines[i])) inner.push(lines[i].replace(QUOTE, ''));
        else if (inner.length && !interrupts(lines[i])) inner.push(lines[i]); // lazy continuation
        else break;
        i++;
      }
      out += `<blockquote>\n${blocks(inner, ctx)}</blockquote>\n`;
      continue;
    }

    const marker = listMarker(line);
    if (marker) {
      const r = list(lines, i, marker, ctx);
      out += r.html;
      i = r.next;
      continue;
    }

    if (HTML_BLOCK.test(line)) {
      const raw: string[] = [];
      while (i < lines.length && !blank(lines[i])) raw.push(lines[i++]);
      out += raw.join('\n') + '\n';
      continue;
    }

    if (/^ {4}/.test(line)) {
      const body: string[] = [];
      while (i < lines.length && (/^ {4}/.test(lines[i]) || blank(lines[i]))) body.push(lines[i++].slice(4));
      while (body.length && blank(body[body.length - 1])) body.pop();
      out += codeBlock(body.join('\n'), '');
      continue;
    }

    if (line.includes('|') && i + 1 < lines.length && TABLE_DELIM.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      const head = splitRow(line);
      const aligns = splitRow(lines[i + 1]).map((c) => (c.startsWith(':') && c.endsWith(':') ? 'center' : c.endsWith(':') ? 'right' : c.startsWith(':') ? 'left' : ''));
      if (aligns.length === head.length) {
        i += 2;
        const rows: string[][] = [];
        while (i < lines.length && !blank(lines[i]) && lines[i].includes('|') && !interrupts(lines[i])) rows.push(splitRow(lines[i++]));
        const cell = (tag: string, text: string | undefined, k: number): string =>
          `<${tag}${aligns[k] ? ` style="text-align:${aligns[k]}"` : ''}>${inline(text ?? '', ctx)}</${tag}>`;
        out +=
          `<table>\n<thead><tr>${head.map((h, k) => cell('th', h, k)).join('')}</tr></thead>\n` +
          `<tbody>\n${rows.map((r) => `<tr>${head.map((_h, k) => cell('td', r[k], k)).join('')}</tr>`).join('\n')}\n</tbody>\n</table>\n`;
        continue;
      }
    }

    // A paragraph, or a setext heading when underlined with === or ---.
    const para: string[] = [line];
    i++;
    let level = 0;
    while (i < lines.length && !blank(lines[i])) {
      const setext = SETEXT.exec(lines[i]);
      if (setext) {
        level = setext[1][0] === '=' ? 1 : 2;
        i++;
        break;
      }
      if (interrupts(lines[i])) break;
      para.push(lines[i++]);
    }
    const text = para.map((l) => l.replace(/^ +/, '')).join('\n');
    out += level ? heading(level, text, ctx) : `<p>${inline(text.replace(/\s+$/, ''), ctx)}</p>\n`;
  }
  return out;
}

function list(lines: string[], start: number, first: ListMarker, ctx: Ctx): { html: string; next: number } {
  const items: string[][] = [];
  let loose = false;
  let i = start;
  let marker: ListMarker | null = first;
  while (marker && marker.ordered === first.ordered && marker.kind === first.kind) {
    const item: string[] = [marker.rest];
    const content = marker.content;
    i++;
    let sawBlank = false;
    while (i < lines.length) {
      const l = lines[i];
      if (blank(l)) {
        sawBlank = true;
        item.push('');
        i++;
        continue;
      }
      const indent = l.length - l.trimStart().length;
      if (indent >= content) {
        item.push(l.slice(content));
        sawBlank = false;
        i++;
        continue;
      }
      if (!sawBlank && !listMarker(l) && !interrupts(l)) {
        item.push(l.trim()); // lazy continuation of the item's paragraph
        i++;
        continue;
      }
      break;
    }
    while (item.length && blank(item[item.length - 1])) item.pop();
    items.push(item);
    const next: ListMarker | null = i < lines.length ? listMarker(lines[i]) : null;
    if (sawBlank && next && next.kind === first.kind && next.ordered === first.ordered) loose = true;
    marker = next && next.indent < first.content ? next : null;
  }
  // A blank line between two of an item's own blocks (not inside a nested one) makes it loose too.
  if (!loose) loose = items.some((it) => it.some((x, k) => k > 0 && blank(x) && !blank(it[k + 1]) && !/^ /.test(it[k + 1] ?? ' ')));
  const body = items
    .map((it) => {
      let html = blocks(it, ctx);
      if (!loose) html = html.replace(/<p>([\s\S]*?)<\/p>\n/g, '$1\n');
      return `<li>${html.replace(/\n$/, '')}</li>`;
    })
    .join('\n');
  const tag = first.ordered ? 'ol' : 'ul';
  const startAttr = first.ordered && first.start !== 1 ? ` start="${first.start}"` : '';
  return { html: `<${tag}${startAttr}>\n${body}\n</${tag}>\n`, next: i };
}

// ---------------------------------------------------------------------------------------------
// Code

const KEYWORDS: Record<string, Set<string>> = {
  typescript: new Set(
    ('abstract as async await break case catch class const continue debugger declare default delete do else enum export extends ' +
      'false finally for from function get if implements import in instanceof interface keyof let new null of private protected ' +
      'public readonly return satisfies set static super switch this throw true try type typeof undefined var void while with yield').split(' '),
  ),
  python: new Set(
    ('False None True and as assert async await break class continue def del elif else except finally for from global if import ' +
      'in is lambda nonlocal not or pass raise return try while with yield').split(' '),
  ),
};
KEYWORDS.javascript = KEYWORDS.typescript;
KEYWORDS.ts = KEYWORDS.typescript;
KEYWORDS.js = KEYWORDS.typescript;
KEYWORDS.py = KEYWORDS.python;

const TOKEN: Record<'c' | 'hash', RegExp> = {
  // Comments, strings (template strings as one token), numbers, words.
  c: /(\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|("(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|`(?:[^`\\]|\\[\s\S])*`?)|(\b(?:0[xob][\da-f_]+n?|\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?n?)\b)|([A-Za-z_$][\w$]*)/gi,
  hash: /(#[^\n]*)|("""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?)|(\b\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?j?\b)|([A-Za-z_][\w]*)/gi,
};

/** Source code as HTML with comments, strings, numbers and keywords in spans (rb-c, rb-s, rb-n, rb-k). */
export function highlight(code: string, language: string): string {
  const lang = language.toLowerCase();
  const keywords = KEYWORDS[lang];
  if (!keywords) return escapeHtml(code);
  const re = new RegExp(TOKEN[lang.startsWith('py') ? 'hash' : 'c'].source, 'gi');
  let out = '';
  let last = 0;
  for (let m = re.exec(code); m; m = re.exec(code)) {
    out += escapeHtml(code.slice(last, m.index));
    const [tok, comment, str, num, word] = m;
    const cls = comment ? 'rb-c' : str ? 'rb-s' : num ? 'rb-n' : word && keywords.has(word) ? 'rb-k' : null;
    out += cls ? `<span class="${cls}">${escapeHtml(tok)}</span>` : escapeHtml(tok);
    last = m.index + tok.length;
  }
  return out + escapeHtml(code.slice(last));
}

function codeBlock(code: string, info: string): string {
  const lang = info.trim().toLowerCase();
  const cls = lang ? ` class="language-${escapeHtml(lang)}"` : '';
  return `<pre><code${cls}>${highlight(code, lang)}</code></pre>\n`;
}

// ---------------------------------------------------------------------------------------------
// Inline

const ESCAPABLE = /\\([!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~])/g;
const INLINE_TAG = /<!--[\s\S]*?-->|<\/?[a-zA-Z][a-zA-Z0-9-]*(?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*\s*\/?>/g;
// [text](url "title") and ![alt](url "title"); the text may hold one level of brackets.
const LINK = /(!?)\[((?:[^[\]\\]|\\.|\[[^\]]*\])*)\]\(\s*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+("[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;
const AUTOLINK = /<((?:https?|ftp):\/\/[^\s<>]+|mailto:[^\s<>]+)>/g;
const BARE_URL = /\bhttps?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]]/g;

/** Only http(s), mailto, anchors and relative links are kept as hrefs. */
function safeHref(url: string): string | null {
  const u = url.trim();
  if (/^(?:https?:|mailto:|ftp:|#)/i.test(u)) return u;
  if (/^[a-z][a-z0-9+.-]*:/i.test(u)) return null; // javascript:, data:, file: ...
  return u;
}

/**
 * One paragraph's inline Markdown. Pieces already turned into HTML are held in `saved` behind
 * \u0000N\u0000 markers so later steps leave them alone; a link's label is rendered with the same
 * list, and the outermost call puts every piece back.
 */
function inline(text: string, ctx: Ctx, held?: string[]): string {
  const saved = held ?? [];
  const hold = (html: string): string => `\u0000${saved.push(html) - 1}\u0000`;

  let s = text;
  // Code spans first: nothing inside them is Markdown.
  s = s.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (_m, _ticks: string, body: string) => {
    let b = body.replace(/\n/g, ' ');
    if (/^ .* $/.test(b) && b.trim()) b = b.slice(1, -1);
    return hold(`<code>${escapeHtml(b)}</code>`);
  });
  s = s.replace(ESCAPABLE, (_m, c: string) => hold(escapeHtml(c)));
  s = s.replace(AUTOLINK, (_m, url: string) => hold(`<a href="${escapeHtml(url)}">${escapeHtml(url.replace(/^mailto:/, ''))}</a>`));
  s = s.replace(LINK, (_m, bang: string, label: string, rawUrl: string, rawTitle: string | undefined) => {
    const url = rawUrl.startsWith('<') ? rawUrl.slice(1, -1) : rawUrl;
    const title = rawTitle ? rawTitle.slice(1, -1) : '';
    const titleAttr = title ? ` title="${escapeHtml(title)}"` : '';
    if (bang) {
      const alt = label.replace(ESCAPABLE, '$1');
      const src = ctx.image(url, alt);
      if (src === null) return hold(`<span class="rb-missing-image" title="${escapeHtml(url)}">[image: ${escapeHtml(alt || url)}]</span>`);
      return hold(`<img src="${escapeHtml(src)}" alt="${escapeHtml(alt)}"${titleAttr}>`);
    }
    const href = safeHref(url);
    const inner = inline(label, ctx, saved);
    return hold(href === null ? inner : `<a href="${escapeHtml(href)}"${titleAttr}>${inner}</a>`);
  });
  s = s.replace(INLINE_TAG, (tag) => hold(tag));
  s = s.replace(BARE_URL, (url) => hold(`<a href="${escapeHtml(url)}">${escapeHtml(url)}</a>`));

  s = escapeHtml(s);
  s = s.replace(/\*\*\*(?=\S)([\s\S]*?\S)\*\*\*/g, '<strong><em>$1</em></strong>');
  s = s.replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, '<strong>$1</strong>');
  s = s.replace(/(^|[^\p{L}\p{N}_])__(?=\S)([\s\S]*?\S)__(?![\p{L}\p{N}_])/gu, '$1<strong>$2</strong>');
  s = s.replace(/\*(?=[^\s*])([\s\S]*?[^\s*])\*/g, '<em>$1</em>');
  s = s.replace(/(^|[^\p{L}\p{N}_])_(?=[^\s_])([\s\S]*?[^\s_])_(?![\p{L}\p{N}_])/gu, '$1<em>$2</em>');
  s = s.replace(/~~(?=\S)([\s\S]*?\S)~~/g, '<del>$1</del>');
  s = s.replace(/(?: {2,}|\\)\n/g, '<br>\n');

  if (held) return s;
  // Held pieces may hold others (a link's label): restore until none are left.
  for (let guard = 0; s.includes('\u0000') && guard < 10; guard++) {
    s = s.replace(/\u0000(\d+)\u0000/g, (_m, k: string) => saved[Number(k)] ?? '');
  }
  return s;
}
