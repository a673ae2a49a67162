// The UI's router: the URL (path and query) is the whole state of a page, so every page can be
// shared by copying its address. History API only; no dependency.
import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from "react";

export interface Location {
  path: string;
  query: URLSearchParams;
}

const listeners = new Set<() => void>();

function current(): Location {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}

/** Goes to `to` (a path with an optional query) without reloading; `replace` keeps history short (filters, sorting). */
export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (opts.replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  for (const l of listeners) l();
  if (!opts.replace) window.scrollTo(0, 0);
}

/** The current location; re-renders on navigation (links, back and forward). */
export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return location;
}

/**
 * One query parameter as state: reading it from the URL, setting it replaces the URL's value
 * (removing it when empty), so the page's state is always in its address.
 */
export function useQueryParam(name: string, fallback = ""): [string, (value: string) => void] {
  const { query } = useLocation();
  const value = query.get(name) ?? fallback;
  const set = (next: string) => navigate(withQuery({ [name]: next === fallback ? undefined : next }), { replace: true });
  return [value, set];
}

/** The current URL with some query parameters set (undefined or "" removes one). */
export function withQuery(changes: Record<string, string | undefined>, base: Location = current()): string {
  const query = new URLSearchParams(base.query);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === "") query.delete(k);
    else query.set(k, v);
  }
  const text = query.toString();
  return text ? `${base.path}?${text}` : base.path;
}

/** Matches a pattern such as `/runs/:id` against a path; returns the decoded parameters, or undefined. */
export function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split("/").filter(Boolean);
  const got = path.split("/").filter(Boolean);
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w.startsWith(":")) {
      try {
        params[w.slice(1)] = decodeURIComponent(g);
      } catch {
        return undefined;
      }
    } else if (w !== g) return undefined;
  }
  return params;
}

/** A link that navigates inside the app (and still opens in a new tab with a modifier key). */
export function Link({ to, children, ...rest }: { to: string; children: ReactNode } & Omit<AnchorHTMLAttributes<HTMLAnchorElement>, "href">) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    rest.onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a {...rest} href={to} onClick={onClick}>
      {children}
    </a>
  );
}

/** A path segment, encoded: names in URLs are user data. */
export function seg(value: string | number): string {
  return encodeURIComponent(String(value));
}
