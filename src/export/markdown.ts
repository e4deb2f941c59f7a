// Markdown to HTML for exported notebooks, with markdown-it (CommonMark and GitHub's tables and
// strikethrough) and highlight.js, both running in Node: no browser, no network. What is ours:
// heading ids unique across the page's cells, images resolved by the exporter (so it can inline
// them), and links kept only to schemes that cannot run code. Raw HTML is passed through for the
// exporter to make offline.
import MarkdownIt from 'markdown-it';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import python from 'highlight.js/lib/languages/python';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import { escapeHtml } from '../escape';

// The languages of notebooks and of what they show: cells (TypeScript, Python), queries, shell
// commands, C services, JSON.
for (const [name, language] of Object.entries({ bash, c, javascript, json, python, sql, typescript })) hljs.registerLanguage(name, language);

export interface MarkdownOptions {
  /** The URL to put in an <img>, given the Markdown's src (null: show the alt text instead). */
  image?: (src: string, alt: string) => string | null;
  /** Heading ids already used on the page (ids get a -1, -2... suffix when taken). */
  ids?: Set<string>;
}

/** Source code as HTML with highlight.js's spans (hljs-keyword, hljs-string...); unknown languages escaped. */
export function highlight(code: string, language: string): string {
  const lang = language.toLowerCase();
  if (!lang || !hljs.getLanguage(lang)) return escapeHtml(code);
  return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
}

/** Only http(s), mailto, ftp, anchors and relative links are kept as hrefs. */
function safeHref(url: string): boolean {
  const u = url.trim();
  return /^(?:https?:|mailto:|ftp:|#)/i.test(u) || !/^[a-z][a-z0-9+.-]*:/i.test(u);
}

function slug(text: string, ids: Set<string>): string {
  const base =
    text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .trim()
      .replace(/\s+/g, '-') || 'section';
  let id = base;
  for (let n = 1; ids.has(id); n++) id = `${base}-${n}`;
  ids.add(id);
  return id;
}

/** What one page's rendering keeps across its cells (markdown-it hands it to every rule). */
type Page = {
  image: (src: string, alt: string) => string | null;
  ids: Set<string>;
};

const pageOf = (env: object | undefined): Page => env as Page;

const md = new MarkdownIt({ html: true, linkify: true, highlight: (code, lang) => highlight(code, lang) });
// Every link parses (markdown-it would leave an unsafe one as literal text, URL included); the
// renderer below shows an unsafe one as its label only.
md.validateLink = () => true;
md.renderer.rules.s_open = () => '<del>';
md.renderer.rules.s_close = () => '</del>';

md.core.ruler.push('replaybook_headings_and_links', (state) => {
  const page = pageOf(state.env);
  const tokens = state.tokens;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.type === 'heading_open') {
      const text = (tokens[i + 1].children ?? []).filter((x) => x.type === 'text' || x.type === 'code_inline').map((x) => x.content).join('');
      t.attrSet('id', slug(text, page.ids));
    }
    if (t.type !== 'inline' || !t.children) continue;
    // An unsafe link's open and close tokens go; its label stays.
    const open: boolean[] = [];
    t.children = t.children.filter((x) => {
      if (x.type === 'link_open') {
        const keep = safeHref(String(x.attrGet('href') ?? ''));
        open.push(keep);
        return keep;
      }
      if (x.type === 'link_close') return open.pop() ?? true;
      return true;
    });
  }
});

md.renderer.rules.image = (tokens, idx, options, env, self) => {
  const t = tokens[idx];
  const src = String(t.attrGet('src') ?? '');
  const alt = self.renderInlineAsText(t.children ?? [], options, env);
  const url = pageOf(env).image(src, alt);
  if (url === null) return `<span class="rb-missing-image" title="${escapeHtml(src)}">[image: ${escapeHtml(alt || src)}]</span>`;
  const title = String(t.attrGet('title') ?? '');
  return `<img src="${escapeHtml(url)}" alt="${escapeHtml(alt)}"${title ? ` title="${escapeHtml(title)}"` : ''}>`;
};

/** Renders Markdown source to HTML. */
export function renderMarkdown(source: string, opts: MarkdownOptions = {}): string {
  const page: Page = { image: opts.image ?? ((src) => src), ids: opts.ids ?? new Set() };
  return md.render(source, page);
}
