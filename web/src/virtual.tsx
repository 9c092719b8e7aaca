// A virtualised list of rows of varying height: only the rows in (or near) the viewport are in
// the DOM, so a 20,000-event conversation opens and scrolls like a short one.
//
// Heights start as estimates and are measured once rendered (a ResizeObserver also catches rows
// that change size, e.g. an expanded thought). When a row above the viewport changes height, the
// scroll position moves by the same amount, so what the reader looks at stays put. When the
// reader is at the bottom, the list follows new rows.

import type { ComponentChildren, JSX } from "preact";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";

const OVERSCAN_PX = 600;
const BOTTOM_SLACK_PX = 40;

export interface Layout {
  /** Offsets of each row's top; ``offsets[n]`` is the total height. */
  offsets: Float64Array;
  start: number;
  end: number;
}

/** Which rows intersect [top - overscan, top + height + overscan]. */
export function layout(heights: readonly number[], top: number, height: number): Layout {
  const n = heights.length;
  const offsets = new Float64Array(n + 1);
  for (let i = 0; i < n; i += 1) offsets[i + 1] = (offsets[i] ?? 0) + (heights[i] ?? 0);
  const first = firstAtOrAfter(offsets, top - OVERSCAN_PX);
  const last = firstAtOrAfter(offsets, top + height + OVERSCAN_PX);
  return { offsets, start: Math.max(0, first - 1), end: Math.min(n, last + 1) };
}

/** The first row whose bottom lies at or after ``y`` (binary search over offsets). */
function firstAtOrAfter(offsets: Float64Array, y: number): number {
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((offsets[mid + 1] ?? 0) < y) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface Props<T> {
  items: readonly T[];
  keyOf: (item: T) => string;
  estimate: (item: T) => number;
  render: (item: T) => ComponentChildren;
  /** Scroll to this key once (e.g. a pending permission card); changes re-trigger. */
  scrollTo?: string | null;
  testid?: string;
  class?: string;
}

export function VirtualList<T>(props: Props<T>): JSX.Element {
  const { items, keyOf, estimate, render } = props;
  const viewport = useRef<HTMLDivElement>(null);
  const measured = useRef(new Map<string, number>());
  const following = useRef(true);
  const [view, setView] = useState({ top: 0, height: 800 });
  const [, setTick] = useState(0);
  const observer = useRef<ResizeObserver | null>(null);

  const heights = items.map((item) => measured.current.get(keyOf(item)) ?? estimate(item));
  const { offsets, start, end } = layout(heights, view.top, view.height);
  const total = offsets[items.length] ?? 0;

  const onScroll = useCallback(() => {
    const el = viewport.current;
    if (!el) return;
    following.current = el.scrollHeight - el.scrollTop - el.clientHeight < BOTTOM_SLACK_PX;
    setView({ top: el.scrollTop, height: el.clientHeight });
  }, []);

  // measure rendered rows; keep the reader's place when rows above them change height
  const measure = useCallback((elements: Iterable<Element>) => {
    const el = viewport.current;
    if (!el) return;
    let changed = false;
    let shift = 0;
    const firstVisible = Number(el.dataset.firstVisible ?? "0");
    for (const row of elements) {
      if (!(row instanceof HTMLElement) || !row.isConnected) continue;
      const key = row.dataset.key;
      if (key === undefined) continue;
      const height = row.offsetHeight;
      const before = measured.current.get(key);
      if (before === height) continue;
      measured.current.set(key, height);
      changed = true;
      if (Number(row.dataset.index) < firstVisible && !following.current) {
        shift += height - (before ?? Number(row.dataset.estimate));
      }
    }
    if (shift !== 0) el.scrollTop += shift;
    if (changed) setTick((t) => t + 1);
  }, []);

  useEffect(() => {
    observer.current = new ResizeObserver((entries) => {
      measure(entries.map((e) => e.target));
    });
    const el = viewport.current;
    const resize = new ResizeObserver(() => {
      if (el) setView({ top: el.scrollTop, height: el.clientHeight });
    });
    if (el) resize.observe(el);
    return () => {
      observer.current?.disconnect();
      resize.disconnect();
    };
  }, [measure]);

  useLayoutEffect(() => {
    const el = viewport.current;
    if (!el) return;
    const rows = el.querySelectorAll<HTMLElement>("[data-key]");
    rows.forEach((row) => observer.current?.observe(row));
    measure(rows);
    if (following.current && el.scrollTop + el.clientHeight < el.scrollHeight) {
      el.scrollTop = el.scrollHeight;
    }
  });

  useLayoutEffect(() => {
    const key = props.scrollTo;
    const el = viewport.current;
    if (!key || !el) return;
    const at = items.findIndex((item) => keyOf(item) === key);
    if (at < 0) return;
    following.current = false;
    el.scrollTop = Math.max(0, (offsets[at] ?? 0) - el.clientHeight / 3);
    setView({ top: el.scrollTop, height: el.clientHeight });
  }, [props.scrollTo]); // only when the target changes

  const firstVisible = firstAtOrAfter(offsets, view.top);
  const rows: JSX.Element[] = [];
  for (let at = start; at < end; at += 1) {
    const item = items[at];
    if (item === undefined) continue;
    const key = keyOf(item);
    rows.push(
      <div key={key} data-key={key} data-index={at} data-estimate={heights[at]} class="vrow">
        {render(item)}
      </div>,
    );
  }
  return (
    <div
      ref={viewport}
      class={`vlist ${props.class ?? ""}`}
      data-testid={props.testid}
      data-first-visible={firstVisible}
      data-rows={items.length}
      onScroll={onScroll}
    >
      <div class="vspace" style={{ height: `${total}px` }}>
        <div class="vwindow" style={{ transform: `translateY(${offsets[start] ?? 0}px)` }}>
          {rows}
        </div>
      </div>
    </div>
  );
}
