// The ceiling for the serving bench: a bare node:http server that parses an OIP v2 infer body,
// runs onnxruntime-node's session.run on the main thread and answers the OIP response. No
// validation, auth, metrics, logging or worker threads: what Paved adds is the platform's cost.
// usage: node --import tsx bench/onnx-http-server.ts MODEL.onnx
import http from "node:http";
import * as ort from "onnxruntime-node";

const session = await ort.InferenceSession.create(process.argv[2]!, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" });
const name = session.inputNames[0]!;

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    void (async () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id?: string; inputs: { shape: number[]; data: number[] }[] };
        const input = body.inputs[0]!;
        const results = await session.run({ [name]: new ort.Tensor("float32", Float32Array.from(input.data.flat(Infinity) as number[]), input.shape) });
        const outputs = session.outputNames.map((n) => ({ name: n, shape: results[n]!.dims, datatype: "FP32", data: Array.from(results[n]!.data as Float32Array) }));
        const text = JSON.stringify({ model_name: "m", model_version: "1", id: body.id ?? "", outputs });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.end(text);
      } catch (error) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: (error as Error).message }));
      }
    })();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`port=${typeof address === "object" && address ? address.port : 0}\n`);
});
process.on("SIGTERM", () => process.exit(0));
