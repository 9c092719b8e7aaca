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
  /** Scroll to this row (e.g. a pending permission card); each new object scrolls again. */
  scrollTo?: { key: string } | null;
  testid?: string;
  class?: string;
}

/** A row's wrapper: tells the list's ResizeObserver to watch it while it is mounted. */
function VRow(props: {
  rowKey: string;
  index: number;
  estimate: number;
  observer: ResizeObserver | null;
  children: ComponentChildren;
}): JSX.Element {
  const ref = useRef<HTMLDivElement>(null);
  const { observer } = props;
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || !observer) return;
    observer.observe(el);
    return () => {
      observer.unobserve(el);
    };
  }, [observer]);
  return (
    <div
      ref={ref}
      data-key={props.rowKey}
      data-index={props.index}
      data-estimate={props.estimate}
      class="vrow"
    >
      {props.children}
    </div>
  );
}

export function VirtualList<T>(props: Props<T>): JSX.Element {
  const { items, keyOf, estimate, render } = props;
  const viewport = useRef<HTMLDivElement>(null);
  const measured = useRef(new Map<string, number>());
  const following = useRef(true);
  const firstVisible = useRef(0);
  const [view, setView] = useState({ top: 0, height: 800 });
  const [, setTick] = useState(0);
  const [observer, setObserver] = useState<ResizeObserver | null>(null);

  const heights = items.map((item) => measured.current.get(keyOf(item)) ?? estimate(item));
  const { offsets, start, end } = layout(heights, view.top, view.height);
  const total = offsets[items.length] ?? 0;
  firstVisible.current = firstAtOrAfter(offsets, view.top);

  const onScroll = useCallback(() => {
    const el = viewport.current;
    if (!el) return;
    following.current = el.scrollHeight - el.scrollTop - el.clientHeight < BOTTOM_SLACK_PX;
    setView({ top: el.scrollTop, height: el.clientHeight });
  }, []);

  // Rows are measured by a ResizeObserver (after layout, never forcing one). When a row above
  // the first visible one changes height, the scroll position moves by as much.
  useEffect(() => {
    const el = viewport.current;
    const rows = new ResizeObserver((entries) => {
      let shift = 0;
      for (const entry of entries) {
        const row = entry.target as HTMLElement;
        const key = row.dataset.key;
        const size = entry.borderBoxSize[0];
        if (key === undefined || size === undefined || !row.isConnected) continue;
        const height = size.blockSize;
        const before = measured.current.get(key) ?? Number(row.dataset.estimate);
        measured.current.set(key, height);
        if (Number(row.dataset.index) < firstVisible.current) shift += height - before;
      }
      if (el && shift !== 0 && !following.current) el.scrollTop += shift;
      setTick((t) => t + 1);
    });
    const resize = new ResizeObserver(() => {
      if (el) setView({ top: el.scrollTop, height: el.clientHeight });
    });
    if (el) resize.observe(el);
    setObserver(rows);
    return () => {
      rows.disconnect();
      resize.disconnect();
    };
  }, []);

  useLayoutEffect(() => {
    const el = viewport.current;
    if (el && following.current && el.scrollTop + el.clientHeight < el.scrollHeight - 1) {
      el.scrollTop = el.scrollHeight;
    }
  });

  useLayoutEffect(() => {
    const key = props.scrollTo?.key;
    const el = viewport.current;
    if (!key || !el) return;
    const at = items.findIndex((item) => keyOf(item) === key);
    if (at < 0) return;
    following.current = false;
    el.scrollTop = Math.max(0, (offsets[at] ?? 0) - el.clientHeight / 3);
    setView({ top: el.scrollTop, height: el.clientHeight });
  }, [props.scrollTo]); // only when asked again

  const rows: JSX.Element[] = [];
  for (let at = start; at < end; at += 1) {
    const item = items[at];
    if (item === undefined) continue;
    const key = keyOf(item);
    rows.push(
      <VRow key={key} rowKey={key} index={at} estimate={heights[at] ?? 0} observer={observer}>
        {render(item)}
      </VRow>,
    );
  }
  return (
    <div
      ref={viewport}
      class={`vlist ${props.class ?? ""}`}
      data-testid={props.testid}
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
