import { PlatformError } from "../../../core/index.ts";

/**
 * Whether `host:port` may be reached: an entry `name` allows every port of it, `name:port` that port
 * only. Names compare case-insensitively and exactly (no wildcards, no suffixes).
 */
export function assertAllowedHost(host: string, port: number, allowed: readonly string[], what: string): void {
  const name = host.toLowerCase().replace(/^\[|\]$/g, "");
  const ok = allowed.some((entry) => {
    const [entryHost = "", entryPort] = entry.toLowerCase().split(/:(?=\d+$)/);
    return entryHost === name && (entryPort === undefined || Number(entryPort) === port);
  });
  if (!ok) {
    throw new PlatformError(
      "FORBIDDEN",
      `${what} host '${host}:${port}' is not allowed for dataset connectors; a platform admin adds it to datasets.connectors.allowedHosts in the server's config (allowed now: ${allowed.length ? allowed.join(", ") : "none"})`,
      { host, port, allowed },
    );
  }
}
