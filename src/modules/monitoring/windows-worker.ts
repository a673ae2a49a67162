// The monitors' thread (windows-thread.ts): fills each monitor's window with the sampled traffic
// it is handed, and judges a window when told to close it. It keeps each monitor's prepared
// reference (sent once) and parsed prediction baseline, so a close brings only the thresholds.
import { parentPort } from "node:worker_threads";
import { LiveSamples, monitoredKey, sampleRows } from "../serving/live-samples.ts";
import { judgeWindow, type PreparedReference } from "./window.ts";
import type { WindowsReply, WindowsRequest } from "./windows-thread.ts";

/** The window being filled, per monitor target (monitoredKey). */
const filling = new Map<string, LiveSamples>();
const references = new Map<string, PreparedReference>();
const baselines = new Map<string, { text: string; scores: number[] }>();

function baselineOf(monitor: string, text: string | null): number[] | undefined {
  if (text === null) return undefined;
  const cached = baselines.get(monitor);
  if (cached?.text === text) return cached.scores;
  const scores = JSON.parse(text) as number[];
  baselines.set(monitor, { text, scores });
  return scores;
}

parentPort!.on("message", (request: WindowsRequest) => {
  switch (request.type) {
    case "absorb":
      for (const set of request.sets) {
        const key = monitoredKey(set);
        let samples = filling.get(key);
        if (!samples) {
          samples = new LiveSamples();
          samples.setMonitored([key]);
          filling.set(key, samples);
        }
        samples.absorb([set]);
      }
      return;
    case "forget":
      references.delete(request.monitor);
      baselines.delete(request.monitor);
      filling.delete(request.key);
      return;
    case "discard":
      filling.delete(request.key);
      return;
    case "reset":
      filling.clear();
      return;
    case "close": {
      let reply: WindowsReply;
      try {
        if (request.reference) references.set(request.monitor, request.reference);
        const reference = references.get(request.monitor);
        if (!reference) throw new Error(`no reference held for monitor ${request.monitor}`);
        const batch = filling.get(request.key)?.drain()[0];
        const rows = batch ? sampleRows(batch) : undefined;
        const judged = judgeWindow(reference, batch, request.spec, request.thresholds, baselineOf(request.monitor, request.baseline));
        reply = {
          id: request.id,
          ok: true,
          judged,
          requests: batch?.requests ?? 0,
          errors: batch?.errors ?? 0,
          rowsSeen: batch?.rowsSeen ?? 0,
          rowsKept: rows?.count ?? 0,
          rowsDropped: batch?.rowsDropped ?? 0,
          rows: request.keepRows && rows && rows.count > 0 ? rows : undefined,
        };
      } catch (error) {
        reply = { id: request.id, ok: false, message: (error as Error).message };
      }
      parentPort!.postMessage(reply);
    }
  }
});
