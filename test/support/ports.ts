import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/**
 * A free loopback port BELOW the kernel's ephemeral range (net.ipv4.ip_local_port_range), for a
 * server a test stops and starts again on the same port. A port from the ephemeral range (what
 * `listen(0)` hands out) can be taken, while its server is down, by any other process's
 * `listen(0)` or outgoing connection: the restart then fails or, worse, a stranger answers in its
 * place (the CI run on fee51d2 lost the S3 emulator's port that way). Below the range, only a
 * process that names the port can take it.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  const floor = Math.min(10_000, low - 1_000);
  for (let tries = 0; tries < 200; tries++) {
    const port = floor + Math.floor(Math.random() * (low - floor));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port found between ${floor} and ${low - 1} in 200 tries`);
}

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 2_048 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}
