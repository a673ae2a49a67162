import { randomBytes, createHash } from "node:crypto";
import { request as httpRequest } from "node:http";
import type { Duplex } from "node:stream";
import { PlatformError } from "../../core/index.ts";

/** Where to open a websocket: a TCP URL (`ws://host:port/path`) or a Unix socket and a path. */
export type WebSocketTarget = { url: string } | { socketPath: string; path: string };

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Largest message accepted from the server (a kernel's output can be large, never this large). */
const MAX_MESSAGE_BYTES = 64 * 1024 ** 2;

/**
 * A minimal websocket client (RFC 6455: text messages, ping/pong, close), enough to speak the Jupyter
 * kernel protocol: the workspace controller measures readiness with it, over the server's Unix
 * socket, and tests and the benchmark drive kernels through Paved's proxy with it. Node 20 has no
 * websocket client without a flag, and its fetch-based one cannot reach a Unix socket.
 */
export class WebSocketClient {
  private buffer: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private readonly listeners = new Set<(text: string) => void>();
  private closedError: Error | undefined;
  private readonly closeListeners = new Set<(error: Error) => void>();

  private constructor(private readonly socket: Duplex) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    const closed = () => this.fail(new PlatformError("UNAVAILABLE", "the websocket closed"));
    socket.on("close", closed);
    socket.on("error", (error) => this.fail(error));
  }

  /** Opens a websocket; rejects with the server's status when it answers anything but 101. */
  static connect(target: WebSocketTarget, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<WebSocketClient> {
    const key = randomBytes(16).toString("base64");
    const where = "url" in target ? new URL(target.url) : undefined;
    return new Promise((resolve, reject) => {
      const req = httpRequest({
        ...(where ? { host: where.hostname, port: where.port, path: `${where.pathname}${where.search}` } : { socketPath: (target as { socketPath: string }).socketPath, path: (target as { path: string }).path }),
        method: "GET",
        headers: { ...headers, connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": key },
        timeout: timeoutMs,
      });
      req.once("timeout", () => req.destroy(new PlatformError("UNAVAILABLE", "the websocket did not open in time")));
      req.once("error", reject);
      req.once("response", (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c.slice(0, 4096)));
        res.on("end", () => reject(Object.assign(new PlatformError("UNAVAILABLE", `websocket refused with HTTP ${res.statusCode}: ${body.slice(0, 500)}`), { status: res.statusCode, body })));
      });
      req.once("upgrade", (res, socket, head) => {
        const accept = createHash("sha1").update(key + GUID).digest("base64");
        if (res.headers["sec-websocket-accept"] !== accept) {
          socket.destroy();
          reject(new PlatformError("UNAVAILABLE", "the websocket handshake was answered wrongly"));
          return;
        }
        socket.setTimeout(0);
        const client = new WebSocketClient(socket);
        if (head.length > 0) client.receive(head);
        resolve(client);
      });
      req.end();
    });
  }

  /** Calls `listener` with every text message. */
  onMessage(listener: (text: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls `listener` once the connection is gone. */
  onClose(listener: (error: Error) => void): void {
    if (this.closedError) listener(this.closedError);
    else this.closeListeners.add(listener);
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  send(text: string): void {
    if (this.closedError) throw this.closedError;
    this.socket.write(frame(0x1, Buffer.from(text, "utf8")));
  }

  close(): void {
    if (this.closedError) return;
    try {
      this.socket.write(frame(0x8, Buffer.from([0x03, 0xe8])));
    } catch {
      // Already gone.
    }
    this.socket.end();
    this.fail(new PlatformError("UNAVAILABLE", "the websocket was closed"));
  }

  private fail(error: Error): void {
    if (this.closedError) return;
    this.closedError = error;
    for (const listener of this.closeListeners) listener(error);
    this.closeListeners.clear();
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 2) return;
      const first = this.buffer[0]!;
      const second = this.buffer[1]!;
      let length = second & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (length > MAX_MESSAGE_BYTES) return this.fail(new PlatformError("PAYLOAD_TOO_LARGE", "a websocket message was too large"));
      const masked = (second & 0x80) !== 0;
      const maskOffset = offset;
      if (masked) offset += 4;
      if (this.buffer.length < offset + length) return;
      let payload = this.buffer.subarray(offset, offset + length);
      if (masked) {
        const mask = this.buffer.subarray(maskOffset, maskOffset + 4);
        payload = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
      }
      this.buffer = this.buffer.subarray(offset + length);
      const opcode = first & 0x0f;
      const fin = (first & 0x80) !== 0;
      if (opcode === 0x8) return this.close();
      if (opcode === 0x9) {
        this.socket.write(frame(0xa, payload));
        continue;
      }
      if (opcode === 0xa) continue;
      if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) {
        this.fragments.push(Buffer.from(payload));
        if (this.fragments.reduce((n, f) => n + f.length, 0) > MAX_MESSAGE_BYTES) return this.fail(new PlatformError("PAYLOAD_TOO_LARGE", "a websocket message was too large"));
        if (!fin) continue;
        const text = Buffer.concat(this.fragments).toString("utf8");
        this.fragments = [];
        for (const listener of this.listeners) listener(text);
      }
    }
  }
}

/** A client frame: always masked, as RFC 6455 requires of clients. */
function frame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const length = payload.length;
  const header = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  header[0] = 0x80 | opcode;
  if (length < 126) header[1] = 0x80 | length;
  else if (length < 65536) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  const body = Buffer.alloc(length);
  for (let i = 0; i < length; i++) body[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([header, mask, body]);
}

