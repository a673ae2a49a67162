// A table that renders only the rows in view (plus a margin), so 100,000 rows scroll as smoothly
// as 100. Still a real <table> (headers, aria-rowcount/aria-rowindex) for screen readers and axe:
// spacer rows above and below stand for the rows not rendered. Rows have one fixed height.
import { useCallback, useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent, type ReactNode } from "react";
import "./virtual-table.css";

export interface VirtualColumn<T> {
  id: string;
  /** The header's text (a sortable column wraps it in a button). */
  header: ReactNode;
  /** Width in pixels (the table's layout is fixed, so columns never jump while scrolling). */
  width: number;
  /** Set on sortable columns: the column's current order. */
  sort?: "ascending" | "descending" | "none";
  onSort?: () => void;
  /** A label for the sort button when the header is not plain text. */
  sortLabel?: string;
  className?: string;
  cell: (row: T, index: number) => ReactNode;
  /** The cell's tooltip (full text when it is cut). */
  title?: (row: T) => string | undefined;
}

export interface VirtualTableProps<T> {
  /** The table's accessible name (also the scroll region's). */
  label: string;
  columns: VirtualColumn<T>[];
  /** The rows loaded so far; rows beyond them (up to `total`) show as placeholders. */
  rows: T[];
  rowKey: (row: T, index: number) => string;
  /** Every row there is (loaded or not), when known; rows.length otherwise. */
  total?: number | undefined;
  rowHeight?: number;
  /** Rendered beyond the visible ones, above and below. */
  overscan?: number;
  /** Told the index just past the last row in view (with the margin), whenever it changes: load up to it. */
  onVisibleEnd?: (end: number) => void;
  /** Changing it scrolls back to the top (a new search). */
  resetKey?: string;
  rowClassName?: (row: T) => string | undefined;
  /** Shown in a row under the rows while more are loading. */
  footer?: ReactNode;
}

export function VirtualTable<T>({ label, columns, rows, rowKey, total, rowHeight = 34, overscan = 12, onVisibleEnd, resetKey, rowClassName, footer }: VirtualTableProps<T>) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(800);
  const frame = useRef(0);
  const count = Math.max(total ?? rows.length, rows.length);

  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    setViewport(element.clientHeight || 800);
    const observer = new ResizeObserver(() => setViewport(element.clientHeight || 800));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    if (scroller.current) scroller.current.scrollTop = 0;
    setScrollTop(0);
  }, [resetKey]);

  const onScroll = useCallback(() => {
    if (frame.current) return;
    // One render per frame however many scroll events arrive.
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      if (scroller.current) setScrollTop(scroller.current.scrollTop);
    });
  }, []);
  useEffect(() => () => cancelAnimationFrame(frame.current), []);

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const end = Math.min(count, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);

  useEffect(() => {
    onVisibleEnd?.(end);
  }, [end, onVisibleEnd]);

  // Home and End reach the ends of the whole table, not of the rows rendered.
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.target !== scroller.current || !scroller.current) return;
    if (event.key === "Home") scroller.current.scrollTop = 0;
    else if (event.key === "End") scroller.current.scrollTop = scroller.current.scrollHeight;
    else return;
    event.preventDefault();
  };

  const width = columns.reduce((sum, c) => sum + c.width, 0);
  const visible: ReactNode[] = [];
  for (let i = first; i < end; i++) {
    const row = rows[i];
    if (row === undefined) {
      visible.push(
        <tr key={`placeholder-${i}`} className="vt-row vt-placeholder" aria-rowindex={i + 2} style={{ height: rowHeight }}>
          <td colSpan={columns.length}>Loading…</td>
        </tr>,
      );
      continue;
    }
    visible.push(
      <tr key={rowKey(row, i)} className={`vt-row ${rowClassName?.(row) ?? ""}`} aria-rowindex={i + 2} style={{ height: rowHeight }}>
        {columns.map((c) => (
          <td key={c.id} className={c.className} title={c.title?.(row)}>
            {c.cell(row, i)}
          </td>
        ))}
      </tr>,
    );
  }

  return (
    <div ref={scroller} className="vt-scroll" tabIndex={0} role="region" aria-label={label} onScroll={onScroll} onKeyDown={onKeyDown}>
      <table className="vt" aria-label={label} aria-rowcount={count + 1} style={{ width }}>
        <colgroup>
          {columns.map((c) => (
            <col key={c.id} style={{ width: c.width }} />
          ))}
        </colgroup>
        <thead>
          <tr aria-rowindex={1}>
            {columns.map((c) => (
              <th key={c.id} scope="col" className={c.className} aria-sort={c.onSort ? c.sort ?? "none" : undefined}>
                {c.onSort ? (
                  <button type="button" className="vt-sort" onClick={c.onSort} aria-label={c.sortLabel}>
                    <span className="vt-sort-text">{c.header}</span>
                    <span aria-hidden="true" className="vt-sort-mark">
                      {c.sort === "ascending" ? "▲" : c.sort === "descending" ? "▼" : ""}
                    </span>
                  </button>
                ) : (
                  c.header
                )}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {first > 0 ? (
            <tr aria-hidden="true" className="vt-spacer" style={{ height: first * rowHeight }}>
              <td colSpan={columns.length} />
            </tr>
          ) : null}
          {visible}
          {end < count ? (
            <tr aria-hidden="true" className="vt-spacer" style={{ height: (count - end) * rowHeight }}>
              <td colSpan={columns.length} />
            </tr>
          ) : null}
          {footer ? (
            <tr className="vt-footer">
              <td colSpan={columns.length}>{footer}</td>
            </tr>
          ) : null}
        </tbody>
      </table>
    </div>
  );
}
