// A line diff of a tool call's `{"type": "diff", "path", "oldText", "newText"}` content, in
// unified form with a little context, for the console to show exactly what an edit changes.

export interface DiffLine {
  op: " " | "+" | "-";
  text: string;
  oldNo: number | null;
  newNo: number | null;
}

export interface Hunk {
  oldStart: number;
  newStart: number;
  lines: DiffLine[];
}

/** Beyond this many cells the LCS table is not built: the middle shows as replaced whole. */
const MAX_CELLS = 4_000_000;

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The edit script between two line lists (common prefix/suffix, LCS in between). */
export function diffLines(oldText: string | null, newText: string): DiffLine[] {
  const a = splitLines(oldText ?? "");
  const b = splitLines(newText);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA -= 1;
    endB -= 1;
  }
  const ops: (" " | "+" | "-")[] = [];
  for (let i = 0; i < start; i += 1) ops.push(" ");
  ops.push(...middle(a.slice(start, endA), b.slice(start, endB)));
  for (let i = endA; i < a.length; i += 1) ops.push(" ");
  const lines: DiffLine[] = [];
  let i = 0;
  let j = 0;
  for (const op of ops) {
    if (op === " ") {
      lines.push({ op, text: a[i] ?? "", oldNo: i + 1, newNo: j + 1 });
      i += 1;
      j += 1;
    } else if (op === "-") {
      lines.push({ op, text: a[i] ?? "", oldNo: i + 1, newNo: null });
      i += 1;
    } else {
      lines.push({ op, text: b[j] ?? "", oldNo: null, newNo: j + 1 });
      j += 1;
    }
  }
  return lines;
}

function middle(a: string[], b: string[]): ("+" | "-" | " ")[] {
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_CELLS || n === 0 || m === 0) {
    return [...Array<"-">(n).fill("-"), ...Array<"+">(m).fill("+")];
  }
  // lcs[i][j]: the LCS length of a[i:] and b[j:], in one flat array
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      lcs[i * width + j] =
        a[i] === b[j]
          ? (lcs[(i + 1) * width + j + 1] ?? 0) + 1
          : Math.max(lcs[(i + 1) * width + j] ?? 0, lcs[i * width + j + 1] ?? 0);
    }
  }
  const ops: ("+" | "-" | " ")[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push(" ");
      i += 1;
      j += 1;
    } else if ((lcs[(i + 1) * width + j] ?? 0) >= (lcs[i * width + j + 1] ?? 0)) {
      ops.push("-");
      i += 1;
    } else {
      ops.push("+");
      j += 1;
    }
  }
  while (i < n) {
    ops.push("-");
    i += 1;
  }
  while (j < m) {
    ops.push("+");
    j += 1;
  }
  return ops;
}

/** Group changed lines into hunks with ``context`` unchanged lines around each change. */
export function hunks(lines: DiffLine[], context = 3): Hunk[] {
  const keep = new Uint8Array(lines.length);
  lines.forEach((line, at) => {
    if (line.op === " ") return;
    for (let k = Math.max(0, at - context); k <= Math.min(lines.length - 1, at + context); k += 1) {
      keep[k] = 1;
    }
  });
  const result: Hunk[] = [];
  let current: Hunk | null = null;
  lines.forEach((line, at) => {
    if (!keep[at]) {
      current = null;
      return;
    }
    if (current === null) {
      current = { oldStart: line.oldNo ?? 0, newStart: line.newNo ?? 0, lines: [] };
      result.push(current);
    }
    current.lines.push(line);
  });
  return result;
}
