import { confinePath, invalidInput } from "../../core/index.ts";

/** Where a model version's files come from; every kind names files Paved already stores. */
export type ModelSource =
  | { kind: "run"; runId: string; path: string; experimentId?: string }
  | { kind: "version"; name: string; version: number }
  | { kind: "logged-model"; modelId: string; path: string; experimentId?: string };

const FIX =
  "use runs:/<run_id>/<path>, models:/<name>/<version>, models:/<logged_model_id>, mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path> or mlflow-artifacts:/<experiment_id>/models/<logged_model_id>/artifacts";
const RUN_ID = /^[0-9A-Za-z_-]{1,64}$/;
const EXPERIMENT_ID = /^[0-9A-Za-z_-]{1,64}$/;
export const LOGGED_MODEL_ID = /^m-[0-9a-f]{32}$/;

function relative(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed ? confinePath(trimmed, "model source path") : "";
}

/**
 * Parses a version source at the edge. Only URIs naming files Paved already holds are accepted:
 * no file://, no http(s):// or other hosts the server would fetch, no `..`, no query or fragment.
 */
export function parseSource(source: string): ModelSource {
  if (typeof source !== "string" || !source || source.length > 2048) throw invalidInput(`source must be a URI of at most 2048 characters; ${FIX}`);
  if (/[\s\0\\?#]/.test(source)) {
    throw invalidInput(`source '${source}' contains whitespace, a backslash, a query ('?') or a fragment ('#'); ${FIX}`);
  }
  const match = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(source);
  if (!match) throw invalidInput(`source '${source}' is not a URI; ${FIX}`);
  const scheme = match[1]!.toLowerCase();
  const rest = match[2]!;
  if (!rest.startsWith("/") || rest.startsWith("//")) {
    throw invalidInput(`source '${source}' names a host or is not of the form ${scheme}:/<path>; Paved never fetches from other hosts; ${FIX}`);
  }
  const segments = rest.slice(1).split("/");
  if (segments.some((s) => s === "..")) throw invalidInput(`source '${source}' contains '..'; ${FIX}`);
  switch (scheme) {
    case "runs": {
      const [runId = "", ...path] = segments;
      if (!RUN_ID.test(runId)) throw invalidInput(`source '${source}' has no valid run id; ${FIX}`);
      return { kind: "run", runId, path: relative(path.join("/")) };
    }
    case "models": {
      const [first = "", second, ...extra] = segments;
      if (LOGGED_MODEL_ID.test(first)) return { kind: "logged-model", modelId: first, path: relative([second ?? "", ...extra].join("/")) };
      if (!first || second === undefined || !/^[1-9]\d{0,8}$/.test(second) || extra.some((s) => s !== "")) {
        throw invalidInput(`source '${source}' must name a model version as models:/<name>/<version> (a version number); ${FIX}`);
      }
      return { kind: "version", name: first, version: Number(second) };
    }
    case "mlflow-artifacts": {
      const [experimentId = "", second = "", third = "", fourth, ...path] = segments;
      if (!EXPERIMENT_ID.test(experimentId)) throw invalidInput(`source '${source}' has no experiment id; ${FIX}`);
      if (second === "models" && LOGGED_MODEL_ID.test(third) && fourth === "artifacts") {
        return { kind: "logged-model", modelId: third, path: relative(path.join("/")), experimentId };
      }
      if (RUN_ID.test(second) && third === "artifacts") {
        return { kind: "run", runId: second, experimentId, path: relative([fourth ?? "", ...path].join("/")) };
      }
      throw invalidInput(`source '${source}' is outside any run's or logged model's artifact root; ${FIX}`);
    }
    default:
      throw invalidInput(`source scheme '${scheme}:' is not accepted (Paved copies only files it already stores); ${FIX}`);
  }
}
