// A run's artifact file, previewed without ever running it: text (the first 64 KiB), raster images
// (bytes fetched through the API, shown from a blob: URL typed by the extension: never SVG or
// HTML, which show as text), CSV/TSV heads as a table, and ONNX models as their input/output
// signature when a registered model version read it. Anything else: its size and a download link.
import { useEffect, useState } from "react";
import { api } from "../api.ts";
import { seg } from "../router.tsx";
import { useApi } from "./use-api.ts";
import { ErrorNotice, Loading } from "./common.tsx";
import type { ModelVersion } from "../../../src/client/types.ts";

export const TEXT_PREVIEW_BYTES = 64 * 1024;
const IMAGE_PREVIEW_BYTES = 20 * 1024 * 1024;
const CSV_ROWS = 20;

/** Raster image types a browser decodes as pictures only (never SVG: it can hold script). */
const IMAGE_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  bmp: "image/bmp",
  avif: "image/avif",
};

export type PreviewKind = "image" | "csv" | "onnx" | "text";

export function previewKind(path: string): PreviewKind {
  const ext = extensionOf(path);
  if (IMAGE_TYPES[ext]) return "image";
  if (ext === "csv" || ext === "tsv") return "csv";
  if (ext === "onnx") return "onnx";
  return "text";
}

function extensionOf(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
}

/** The artifact's download address on this server (a relative URL built from encoded parts only). */
export function artifactUrl(runId: string, path: string): string {
  return `/api/v1/runs/${seg(runId)}/artifacts/content?path=${encodeURIComponent(path)}`;
}

/** Up to `limit` bytes of the file, stopping the download there; `complete` when the file was shorter. */
async function readHead(runId: string, path: string, limit: number, signal: AbortSignal): Promise<{ bytes: Uint8Array; complete: boolean }> {
  const parts: Uint8Array[] = [];
  let size = 0;
  let complete = true;
  for await (const chunk of api.downloadArtifact(runId, path, signal)) {
    parts.push(chunk);
    size += chunk.length;
    if (size > limit) {
      complete = false;
      break; // leaving the loop cancels the rest of the download
    }
  }
  const bytes = new Uint8Array(Math.min(size, limit));
  let at = 0;
  for (const p of parts) {
    const take = Math.min(p.length, bytes.length - at);
    bytes.set(p.subarray(0, take), at);
    at += take;
    if (at >= bytes.length) break;
  }
  return { bytes, complete };
}

function looksBinary(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 8000);
  for (let i = 0; i < n; i++) if (bytes[i] === 0) return true;
  return false;
}

/** RFC 4180-ish: quoted fields with doubled quotes and newlines inside; at most `rows` rows. */
export function parseCsv(text: string, delimiter: string, rows: number): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length && out.length < rows; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === delimiter) {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      out.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (out.length < rows && (field !== "" || row.length)) {
    row.push(field);
    out.push(row);
  }
  return out;
}

export function formatBytes(size: number | null | undefined): string {
  if (size === null || size === undefined) return "—";
  if (size < 1024) return `${size} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = size / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export function ArtifactPreview({ runId, path, size }: { runId: string; path: string; size: number | null }) {
  const kind = previewKind(path);
  return (
    <section className="artifact-preview" aria-label={`Preview of ${path}`}>
      <header className="artifact-preview-head">
        <h3 className="mono">{path}</h3>
        <span className="hint">{formatBytes(size)}</span>
        <a className="button" href={artifactUrl(runId, path)} download={path.slice(path.lastIndexOf("/") + 1)}>
          Download
        </a>
      </header>
      {kind === "image" ? <ImagePreview runId={runId} path={path} size={size} /> : null}
      {kind === "csv" ? <CsvPreview runId={runId} path={path} /> : null}
      {kind === "onnx" ? <OnnxPreview runId={runId} path={path} /> : null}
      {kind === "text" ? <TextPreview runId={runId} path={path} /> : null}
    </section>
  );
}

function TextPreview({ runId, path }: { runId: string; path: string }) {
  const { data, error, loading } = useApi((signal) => readHead(runId, path, TEXT_PREVIEW_BYTES, signal), [runId, path]);
  if (error) return <ErrorNotice error={error} />;
  if (loading || !data) return <Loading what="Reading the file" />;
  if (looksBinary(data.bytes)) return <p className="hint">A binary file: download it to open it.</p>;
  const text = new TextDecoder("utf-8", { fatal: false }).decode(data.bytes);
  return (
    <>
      {!data.complete ? <p className="hint">The first {formatBytes(TEXT_PREVIEW_BYTES)} of the file.</p> : null}
      <pre className="artifact-text" tabIndex={0} aria-label={`Contents of ${path}`}>
        {text}
      </pre>
    </>
  );
}

function ImagePreview({ runId, path, size }: { runId: string; path: string; size: number | null }) {
  const [url, setUrl] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const tooBig = size !== null && size > IMAGE_PREVIEW_BYTES;
  useEffect(() => {
    if (tooBig) return;
    const controller = new AbortController();
    let made: string | undefined;
    setUrl(undefined);
    setError(undefined);
    readHead(runId, path, IMAGE_PREVIEW_BYTES, controller.signal).then(
      ({ bytes }) => {
        if (controller.signal.aborted) return;
        made = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: IMAGE_TYPES[extensionOf(path)]! }));
        setUrl(made);
      },
      (err: unknown) => {
        if (!controller.signal.aborted) setError(err);
      },
    );
    return () => {
      controller.abort();
      if (made) URL.revokeObjectURL(made);
    };
  }, [runId, path, tooBig]);
  if (tooBig) return <p className="hint">Too large to preview ({formatBytes(size)}): download it.</p>;
  if (error) return <ErrorNotice error={error} />;
  if (!url) return <Loading what="Loading the image" />;
  return <img className="artifact-image" src={url} alt={`Image artifact ${path}`} />;
}

function CsvPreview({ runId, path }: { runId: string; path: string }) {
  const { data, error, loading } = useApi((signal) => readHead(runId, path, TEXT_PREVIEW_BYTES, signal), [runId, path]);
  if (error) return <ErrorNotice error={error} />;
  if (loading || !data) return <Loading what="Reading the file" />;
  const text = new TextDecoder().decode(data.bytes);
  const rows = parseCsv(text, extensionOf(path) === "tsv" ? "\t" : ",", CSV_ROWS + 1);
  const [header, ...body] = rows;
  if (!header) return <p className="hint">An empty file.</p>;
  const width = Math.max(header.length, ...body.map((r) => r.length));
  return (
    <div className="csv-preview">
      <p className="hint">The first {body.length} rows.</p>
      <div className="table-scroll" tabIndex={0} role="region" aria-label={`First rows of ${path}`}>
        <table>
          <thead>
            <tr>
              {Array.from({ length: width }, (_, i) => (
                <th key={i} scope="col">
                  {header[i] ?? `column ${i + 1}`}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {body.map((r, i) => (
              <tr key={i}>
                {Array.from({ length: width }, (_, j) => (
                  <td key={j}>{r[j] ?? ""}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/**
 * Paved reads an ONNX model's signature when the model is registered; a run's own files carry none.
 * The model versions registered from this run (its downstream lineage) say which file they read.
 */
async function signatureFor(runId: string, path: string): Promise<{ version: ModelVersion; signature: NonNullable<ModelVersion["signature"]> } | undefined> {
  const graph = await api.lineage(`runs:/${runId}`, { direction: "downstream", depth: 1 });
  for (const node of graph.nodes) {
    const m = node.kind === "model" && node.ref ? /^models:\/(.+)\/([^/]+)$/.exec(node.ref) : null;
    if (!m) continue;
    const version = await api.getModelVersion(m[1]!, m[2]!).catch(() => undefined);
    const signature = version?.signature;
    if (!version || !signature) continue;
    const prefix = `runs:/${runId}/`;
    const root = version.source.startsWith(prefix) ? version.source.slice(prefix.length).replace(/\/+$/, "") : undefined;
    if (root === undefined) continue;
    const file = root ? `${root}/${signature.file}` : signature.file;
    if (file === path) return { version, signature };
  }
  return undefined;
}

function OnnxPreview({ runId, path }: { runId: string; path: string }) {
  const { data, error, loading } = useApi(() => signatureFor(runId, path), [runId, path]);
  if (error) return <ErrorNotice error={error} />;
  if (loading) return <Loading what="Looking for the model's signature" />;
  if (!data) return <p className="hint">An ONNX model. Its signature is read when it is registered as a model version; none registered from this run names this file yet.</p>;
  const shape = (s: (number | string | null)[] | null) => (s ? `[${s.map((d) => (d === null ? "?" : String(d))).join(", ")}]` : "unknown");
  return (
    <div className="onnx-signature">
      <p className="hint">
        Signature read by the registry for model <span className="mono">{data.version.name}</span> version {data.version.version}.
      </p>
      <table>
        <caption className="visually-hidden">Inputs and outputs of {path}</caption>
        <thead>
          <tr>
            <th scope="col">Direction</th>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col">Shape</th>
          </tr>
        </thead>
        <tbody>
          {[...data.signature.inputs.map((t) => ["input", t] as const), ...data.signature.outputs.map((t) => ["output", t] as const)].map(([dir, t], i) => (
            <tr key={i}>
              <td>{dir}</td>
              <td className="mono">{t.name}</td>
              <td>{t.type}</td>
              <td className="mono">{shape(t.shape)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
