/** "1m12s", "3h05m", "2d4h", "850ms": at most two units, largest first. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${pad(m % 60)}m`;
  const d = Math.floor(h / 24);
  return `${d}d${h % 24}h`;
}

/** "3s ago", "5m ago", "2d ago"; "-" for missing times. */
export function formatAgo(time: number | null | undefined, now: number): string {
  if (time === null || time === undefined) return "-";
  const ms = now - time;
  if (ms < 1000) return "just now";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ago`;
  return `${Math.floor(h / 24)}d ago`;
}

/** ISO local-ish time plus how long ago: "2025-01-02 10:11:12 (3m ago)". */
export function formatTime(time: number | null | undefined, now: number): string {
  if (time === null || time === undefined) return "-";
  const d = new Date(time);
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${stamp} (${formatAgo(time, now)})`;
}

/** How long something ran: until `end`, or until now while it runs. */
export function formatElapsed(start: number | null | undefined, end: number | null | undefined, now: number): string {
  if (start === null || start === undefined) return "-";
  return formatDuration((end ?? now) - start);
}

/** "512Mi", "4Gi", "1.5Ti" from MiB. */
export function formatMiB(mib: number | null | undefined): string {
  if (mib === null || mib === undefined) return "-";
  if (mib >= 1024 * 1024) return `${trim(mib / (1024 * 1024))}Ti`;
  if (mib >= 1024) return `${trim(mib / 1024)}Gi`;
  return `${trim(mib)}Mi`;
}

/** "12 B", "3.4 KiB", "1.2 GiB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${trim(value)} ${units[unit]}`;
}

/** Metric values: integers as is, others with up to 6 significant digits. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return "-";
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(6)));
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

function trim(n: number): string {
  return String(Number(n.toFixed(1)));
}
