import { randomUUID } from "node:crypto";
import { PlatformError } from "../../core/index.ts";
import { WebSocketClient, type WebSocketTarget } from "./websocket.ts";

/** What a cell printed and how it ended. */
export interface ExecuteResult {
  status: "ok" | "error" | "aborted";
  stdout: string;
  stderr: string;
  /** The value of the cell's last expression (text/plain), when it had one. */
  result?: string;
  /** For `error`: the exception's name, value and traceback. */
  error?: { ename: string; evalue: string; traceback: string[] };
}

interface KernelMessage {
  header: { msg_id: string; msg_type: string };
  parent_header: { msg_id?: string };
  channel: string;
  content: Record<string, unknown>;
}

/**
 * A client of one Jupyter kernel over its websocket (`/api/kernels/<id>/channels`, the JSON
 * messages of the Jupyter messaging protocol as Jupyter Notebook 6 relays them): asks for the
 * kernel's info and executes code, collecting what the cell printed from the iopub channel.
 */
export class KernelClient {
  private readonly session = randomUUID();

  private constructor(private readonly socket: WebSocketClient) {}

  /** Connects to kernel `kernelId` of the Jupyter server at `base` (its base URL's path, ending in `/`). */
  static async open(target: { url: string } | { socketPath: string }, basePath: string, kernelId: string, headers: Record<string, string> = {}): Promise<KernelClient> {
    const session = randomUUID();
    const path = `${basePath}api/kernels/${encodeURIComponent(kernelId)}/channels?session_id=${session}`;
    const where: WebSocketTarget = "url" in target ? { url: new URL(path, target.url.replace(/^http/, "ws")).toString() } : { socketPath: target.socketPath, path };
    return new KernelClient(await WebSocketClient.connect(where, headers));
  }

  /** Sends a kernel_info_request and resolves once the kernel answers. */
  async info(timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const reply = await this.request("kernel_info_request", {}, timeoutMs, (m) => m.header.msg_type === "kernel_info_reply");
    return reply.content;
  }

  /** Runs `code` as a cell; resolves when the kernel is idle again after it. */
  async execute(code: string, timeoutMs = 120_000): Promise<ExecuteResult> {
    const out: ExecuteResult = { status: "ok", stdout: "", stderr: "" };
    let replied = false;
    let idle = false;
    await this.request(
      "execute_request",
      { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true },
      timeoutMs,
      (m) => {
        const type = m.header.msg_type;
        if (type === "stream") {
          const text = String(m.content.text ?? "");
          if (m.content.name === "stderr") out.stderr += text;
          else out.stdout += text;
        } else if (type === "execute_result") {
          out.result = String((m.content.data as Record<string, unknown> | undefined)?.["text/plain"] ?? "");
        } else if (type === "error") {
          out.error = { ename: String(m.content.ename), evalue: String(m.content.evalue), traceback: (m.content.traceback as string[]) ?? [] };
        } else if (type === "execute_reply") {
          replied = true;
          out.status = m.content.status as ExecuteResult["status"];
        } else if (type === "status" && m.content.execution_state === "idle") {
          idle = true;
        }
        return replied && idle;
      },
    );
    return out;
  }

  close(): void {
    this.socket.close();
  }

  /** Sends one request on the shell channel; resolves with the message for which `done` first says true. */
  private request(type: string, content: Record<string, unknown>, timeoutMs: number, done: (message: KernelMessage) => boolean): Promise<KernelMessage> {
    const id = randomUUID();
    return new Promise<KernelMessage>((resolve, reject) => {
      const timer = setTimeout(() => finish(new PlatformError("UNAVAILABLE", `the kernel did not answer ${type} within ${timeoutMs / 1000}s`)), timeoutMs);
      const stop = this.socket.onMessage((text) => {
        let message: KernelMessage;
        try {
          message = JSON.parse(text) as KernelMessage;
        } catch {
          return;
        }
        if (message.parent_header?.msg_id !== id) return;
        if (done(message)) finish(undefined, message);
      });
      this.socket.onClose((error) => finish(error));
      const finish = (error: Error | undefined, message?: KernelMessage) => {
        clearTimeout(timer);
        stop();
        if (error) reject(error);
        else resolve(message!);
      };
      this.socket.send(
        JSON.stringify({
          header: { msg_id: id, msg_type: type, username: "paved", session: this.session, date: new Date().toISOString(), version: "5.3" },
          parent_header: {},
          metadata: {},
          content,
          channel: "shell",
          buffers: [],
        }),
      );
    });
  }
}
