// Agent text as Markdown, sanitised: raw HTML in the text is shown as text, links may only be
// http(s), mailto or in-page, images become links (the console loads nothing external), and
// DOMPurify cleans the result once more.

import DOMPurify from "dompurify";
import { Marked, type Tokens } from "marked";

import { escapeHtml, highlight } from "./highlight";

const SAFE_URL = /^(https?:|mailto:|#)/i;

function safeHref(href: string): string | null {
  const trimmed = href.trim();
  return SAFE_URL.test(trimmed) ? trimmed : null;
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    html(token: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(token.text);
    },
    link(this: { parser: { parseInline(tokens: Tokens.Link["tokens"]): string } }, token) {
      const text = this.parser.parseInline(token.tokens);
      const href = safeHref(token.href);
      if (href === null) return text;
      return `<a href="${escapeHtml(href)}" rel="noopener noreferrer" target="_blank">${text}</a>`;
    },
    image(token: Tokens.Image): string {
      const href = safeHref(token.href);
      const label = escapeHtml(token.text || token.href);
      if (href === null) return label;
      return `<a href="${escapeHtml(href)}" rel="noopener noreferrer" target="_blank">[image: ${label}]</a>`;
    },
    code(token: Tokens.Code): string {
      const language = (token.lang ?? "").split(/\s/)[0] ?? "";
      const body = highlight(token.text, language || null);
      return `<pre class="code"><code class="hljs">${body}</code></pre>`;
    },
  },
});

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("rel", "noopener noreferrer");
    node.setAttribute("target", "_blank");
  }
});

const PURIFY = {
  ALLOWED_TAGS: [
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "input",
    "li",
    "ol",
    "p",
    "pre",
    "span",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
  ],
  ALLOWED_ATTR: ["href", "class", "rel", "target", "type", "checked", "disabled", "align"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
};

/** Sanitised HTML for Markdown ``text`` (safe to assign to innerHTML). */
export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false });
  return DOMPurify.sanitize(html, PURIFY);
}
