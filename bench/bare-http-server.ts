// The HTTP ceiling for the tracking bench: a bare node:http server that reads each body,
// JSON-parses it and answers {}. Whatever Paved does beyond this is the cost of the platform.
import http from "node:http";

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    let status = 200;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { metrics?: unknown[] };
      if (!Array.isArray(body.metrics)) status = 400;
    } catch {
      status = 400;
    }
    res.writeHead(status, { "content-type": "application/json", "content-length": 2 });
    res.end("{}");
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`port=${typeof address === "object" && address ? address.port : 0}\n`);
});
process.on("SIGTERM", () => process.exit(0));
