// A load generator in its own process, for benches whose servers can outrun one client process
// (several data-plane processes at once). Warms up, prints `ready`, waits for `go <epoch ms>` on
// stdin (so that every client starts together), sends the same infer body at a fixed concurrency
// for a given duration, then prints `result={"requests":N,"seconds":S,"failed":F}`.
// usage: node --import tsx bench/load-client.ts URL TOKEN PATH BODY_JSON CONCURRENCY SECONDS
import { HttpClient } from "./support.ts";

const [url, token, path, body, concurrencyArg, secondsArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const client = new HttpClient(url!, token, concurrency);
// Warm the connections and the server's path before the common start.
for (let i = 0; i < 200; i++) await client.raw("POST", path!, body);
process.stdout.write("ready\n");
const startAt = await new Promise<number>((resolve) => {
  let input = "";
  process.stdin.on("data", (d) => {
    input += d;
    const m = /go (\d+)/.exec(input);
    if (m) resolve(Number(m[1]));
  });
});
process.stdin.destroy();
await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
const end = startAt + Number(secondsArg) * 1000;
let requests = 0;
let failed = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      const { status } = await client.raw("POST", path!, body);
      if (status === 200) requests++;
      else failed++;
    }
  }),
);
client.close();
process.stdout.write(`result=${JSON.stringify({ requests, seconds: (Date.now() - startAt) / 1000, failed })}\n`);
