// Terminal output with its ANSI colours: SGR sequences become styled segments; every other
// escape sequence (cursor moves, titles, hyperlinks) is dropped, so nothing renders as garbage.

export interface Segment {
  text: string;
  /** CSS classes: ansi-bold, ansi-dim, ansi-italic, ansi-underline, ansi-fg-N, ansi-bg-N. */
  classes: string[];
  /** 256-colour and true-colour values, as CSS colours. */
  fg?: string;
  bg?: string;
}

interface Style {
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
  inverse: boolean;
  fg: number | string | null; // 0-15: a palette class; string: a CSS colour
  bg: number | string | null;
}

const PLAIN: Style = {
  bold: false,
  dim: false,
  italic: false,
  underline: false,
  inverse: false,
  fg: null,
  bg: null,
};

// CSI ... final byte, OSC ... BEL/ST, and lone two-byte escapes
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[([0-9;?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

function cube(n: number): string {
  // xterm's 256 colours: 16 system, a 6x6x6 cube, then 24 greys
  if (n >= 232) {
    const level = 8 + (n - 232) * 10;
    return `rgb(${level},${level},${level})`;
  }
  const i = n - 16;
  const steps = [0, 95, 135, 175, 215, 255];
  const r = steps[Math.floor(i / 36) % 6] ?? 0;
  const g = steps[Math.floor(i / 6) % 6] ?? 0;
  const b = steps[i % 6] ?? 0;
  return `rgb(${r},${g},${b})`;
}

/** An extended colour (38;5;n or 38;2;r;g;b) from ``codes`` at ``at``; returns it and the next index. */
function extended(codes: number[], at: number): [number | string | null, number] {
  const mode = codes[at + 1];
  if (mode === 5) {
    const n = codes[at + 2] ?? 0;
    return [n < 16 ? n : cube(n), at + 3];
  }
  if (mode === 2) {
    const [r, g, b] = [codes[at + 2] ?? 0, codes[at + 3] ?? 0, codes[at + 4] ?? 0];
    return [`rgb(${r},${g},${b})`, at + 5];
  }
  return [null, at + 1];
}

function applySgr(style: Style, params: string): Style {
  const codes = params === "" ? [0] : params.split(";").map((p) => Number(p) || 0);
  let next = { ...style };
  for (let at = 0; at < codes.length;) {
    const code = codes[at] ?? 0;
    at += 1;
    if (code === 0) next = { ...PLAIN };
    else if (code === 1) next.bold = true;
    else if (code === 2) next.dim = true;
    else if (code === 3) next.italic = true;
    else if (code === 4) next.underline = true;
    else if (code === 7) next.inverse = true;
    else if (code === 22) next = { ...next, bold: false, dim: false };
    else if (code === 23) next.italic = false;
    else if (code === 24) next.underline = false;
    else if (code === 27) next.inverse = false;
    else if (code >= 30 && code <= 37) next.fg = code - 30;
    else if (code >= 90 && code <= 97) next.fg = code - 90 + 8;
    else if (code === 39) next.fg = null;
    else if (code >= 40 && code <= 47) next.bg = code - 40;
    else if (code >= 100 && code <= 107) next.bg = code - 100 + 8;
    else if (code === 49) next.bg = null;
    else if (code === 38 || code === 48) {
      const [colour, after] = extended(codes, at - 1);
      if (code === 38) next.fg = colour;
      else next.bg = colour;
      at = after;
    }
  }
  return next;
}

function segment(text: string, style: Style): Segment {
  const classes: string[] = [];
  if (style.bold) classes.push("ansi-bold");
  if (style.dim) classes.push("ansi-dim");
  if (style.italic) classes.push("ansi-italic");
  if (style.underline) classes.push("ansi-underline");
  const [fg, bg] = style.inverse ? [style.bg ?? 0, style.fg ?? 7] : [style.fg, style.bg];
  const out: Segment = { text, classes };
  if (typeof fg === "number") classes.push(`ansi-fg-${fg}`);
  else if (fg !== null) out.fg = fg;
  if (typeof bg === "number") classes.push(`ansi-bg-${bg}`);
  else if (bg !== null) out.bg = bg;
  return out;
}

/** Split terminal output into styled segments, dropping every escape sequence. */
export function parseAnsi(output: string): Segment[] {
  const segments: Segment[] = [];
  let style = PLAIN;
  let last = 0;
  const add = (text: string): void => {
    if (text) segments.push(segment(text.replace(/\r(?!\n)/g, ""), style));
  };
  for (const match of output.matchAll(ESCAPES)) {
    add(output.slice(last, match.index));
    last = match.index + match[0].length;
    if (match[2] === "m") style = applySgr(style, match[1] ?? "");
  }
  add(output.slice(last));
  return segments;
}
