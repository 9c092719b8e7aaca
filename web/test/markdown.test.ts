import { describe, expect, it } from "vitest";

import { renderMarkdown } from "../src/markdown";

function dom(html: string): HTMLElement {
  const div = document.createElement("div");
  div.innerHTML = html;
  return div;
}

describe("renderMarkdown", () => {
  it("renders Markdown", () => {
    const root = dom(renderMarkdown("# Title\n\n**bold** and `code`\n\n- a\n- b"));
    expect(root.querySelector("h1")?.textContent).toBe("Title");
    expect(root.querySelector("strong")?.textContent).toBe("bold");
    expect(root.querySelectorAll("li")).toHaveLength(2);
  });

  it("shows raw HTML as text instead of injecting it", () => {
    const root = dom(renderMarkdown('hi <img src=x onerror="alert(1)"> <script>alert(2)</script>'));
    expect(root.querySelector("img")).toBeNull();
    expect(root.querySelector("script")).toBeNull();
    expect(root.textContent).toContain("<img src=x");
    const handlers = [...root.querySelectorAll("*")].flatMap((el) =>
      [...el.attributes].filter((a) => a.name.startsWith("on")),
    );
    expect(handlers).toEqual([]);
  });

  it("drops javascript: links and keeps http ones, opened safely", () => {
    const root = dom(renderMarkdown("[bad](javascript:alert(1)) [good](https://example.org/x)"));
    const links = [...root.querySelectorAll("a")];
    expect(links.map((a) => a.getAttribute("href"))).toEqual(["https://example.org/x"]);
    expect(links[0]?.getAttribute("rel")).toBe("noopener noreferrer");
    expect(root.textContent).toContain("bad");
  });

  it("turns images into links: the console loads nothing from elsewhere", () => {
    const root = dom(renderMarkdown("![chart](https://example.org/c.png)"));
    expect(root.querySelector("img")).toBeNull();
    expect(root.querySelector("a")?.getAttribute("href")).toBe("https://example.org/c.png");
  });

  it("highlights fenced code by language", () => {
    const root = dom(renderMarkdown("```python\ndef f():\n    return 1\n```"));
    expect(root.querySelector("pre.code .hljs-keyword")?.textContent).toBe("def");
  });
});
