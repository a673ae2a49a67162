import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { PlatformError } from "../core/index.ts";
import type { ArtifactStore, UploadedPart } from "./artifact-store.ts";
import { MLFLOW_NO_MULTIPART, directUploads } from "./presigned.ts";

export interface ArtifactStoreTarget {
  store: ArtifactStore;
  /** Every name the backend holds now (files under the folder, keys in the bucket): what a failed put must not add to. */
  contents(): Promise<string[]>;
  /** The same kind of store whose backend cannot be reached (a closed port, a folder that cannot be written). */
  unreachable(): ArtifactStore;
  /** Why this backend's direct uploads cannot be exercised here (an emulator that lacks presigned part uploads); unset: they run. */
  directUploadsSkipped?: string;
}

const MiB = 1024 ** 2;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
/** `data` as a stream of `chunk`-byte pieces, as an HTTP upload arrives. */
const chunked = (data: Buffer, chunk = 256 * 1024) =>
  Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += chunk) yield data.subarray(at, at + chunk);
    })(),
  );
/** PUTs each part of `data` to its presigned URL with plain fetch, as a client would, and answers the parts with their ETags. */
async function sendParts(parts: { partNumber: number; url: string; headers: Record<string, string> }[], pieces: Buffer[]): Promise<UploadedPart[]> {
  const sent: UploadedPart[] = [];
  for (const [index, piece] of pieces.entries()) {
    const part = parts[index]!;
    const answer = await fetch(part.url, { method: "PUT", headers: part.headers, body: piece });
    expect(answer.status, await answer.clone().text()).toBe(200);
    sent.push({ partNumber: part.partNumber, etag: answer.headers.get("etag")! });
  }
  return sent;
}

/** The names that hold `digest` (however the backend splits it into folders or key parts). */
const holding = (contents: string[], digest: string) => contents.filter((name) => name.replace(/\//g, "").endsWith(digest));

/**
 * The behaviour every artifact store must show. Each backend's test file calls this with its
 * target; a case a backend cannot run is skipped with its reason, never silently.
 */
export function artifactStoreContract(name: string, target: () => ArtifactStoreTarget): void {
  describe(`artifact store contract: ${name}`, () => {
    it("stores by content and reads the same bytes back", async () => {
      const { store } = target();
      const a = await store.put(Buffer.from("hello"), { maxBytes: 100 });
      const b = await store.put(Readable.from([Buffer.from("hel"), Buffer.from("lo")]), { maxBytes: 100 });
      expect(a).toEqual({ digest: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", size: 5 });
      expect(b).toEqual(a);
      expect(await store.has(a.digest)).toBe(true);
      expect((await buffer(await store.get(a.digest))).toString()).toBe("hello");
      const empty = await store.put(Buffer.alloc(0), { maxBytes: 100 });
      expect(empty).toEqual({ digest: sha256(Buffer.alloc(0)), size: 0 });
      expect((await buffer(await store.get(empty.digest))).length).toBe(0);
    });

    it("holds the same content once, and nothing besides its blobs", async () => {
      const { store, contents } = target();
      const data = randomBytes(1000);
      const first = await store.put(data, { maxBytes: MiB });
      const second = await store.put(chunked(data, 100), { maxBytes: MiB });
      expect(second).toEqual(first);
      const names = await contents();
      expect(holding(names, first.digest)).toHaveLength(1);
      expect(names.filter((n) => /(^|\/)tmp\//.test(n))).toEqual([]);
    });

    it("streams a large body in many parts and reads it back whole", async () => {
      const { store } = target();
      const data = randomBytes(12 * MiB + 1);
      const blob = await store.put(chunked(data), { maxBytes: 64 * MiB });
      expect(blob).toEqual({ digest: sha256(data), size: data.length });
      expect(sha256(await buffer(await store.get(blob.digest)))).toBe(blob.digest);
    });

    it("refuses a body past maxBytes with PAYLOAD_TOO_LARGE and leaves nothing behind", async () => {
      const { store, contents } = target();
      const before = new Set(await contents());
      const small = randomBytes(101);
      await expect(store.put(small, { maxBytes: 100 })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
      // Past several parts: an S3 store has already sent some of it when the limit is crossed.
      const large = randomBytes(11 * MiB);
      await expect(store.put(chunked(large), { maxBytes: 10 * MiB + 7 })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
      expect(await store.has(sha256(small))).toBe(false);
      expect(await store.has(sha256(large))).toBe(false);
      expect((await contents()).filter((n) => !before.has(n))).toEqual([]);
    });

    it("leaves nothing behind when the body fails midway (a client that goes away)", async () => {
      const { store, contents } = target();
      const before = new Set(await contents());
      const part = randomBytes(MiB);
      const failing = Readable.from(
        (async function* () {
          for (let i = 0; i < 7; i++) yield part;
          throw new Error("client went away");
        })(),
      );
      await expect(store.put(failing, { maxBytes: 64 * MiB })).rejects.toThrow("client went away");
      expect((await contents()).filter((n) => !before.has(n))).toEqual([]);
    });

    it("takes concurrent puts of the same content: one blob, every put answered with it", async () => {
      const { store, contents } = target();
      const data = randomBytes(6 * MiB);
      const blobs = await Promise.all([0, 1, 2, 3].map(() => store.put(chunked(data), { maxBytes: 64 * MiB })));
      for (const blob of blobs) expect(blob).toEqual({ digest: sha256(data), size: data.length });
      const names = await contents();
      expect(holding(names, sha256(data))).toHaveLength(1);
      expect(names.filter((n) => /(^|\/)tmp\//.test(n))).toEqual([]);
      expect(sha256(await buffer(await store.get(sha256(data))))).toBe(sha256(data));
    });

    it("answers NOT_FOUND for absent and malformed digests", async () => {
      const { store } = target();
      await expect(store.get("0".repeat(64))).rejects.toMatchObject({ code: "NOT_FOUND" });
      await expect(store.get("../../etc/passwd")).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await store.has("0".repeat(64))).toBe(false);
      expect(await store.has("../../etc/passwd")).toBe(false);
    });

    describe("direct uploads (presigned multipart, the bytes sent straight to the backend)", () => {
      /** The store's direct uploads, or the case skipped with the reason. */
      const offered = (skip: (note: string) => never) => {
        const t = target();
        if (!t.store.createDirectUpload) skip(`the ${t.store.kind} store takes no direct uploads (refused, see the case above)`);
        if (t.directUploadsSkipped) skip(t.directUploadsSkipped);
        return { ...t, uploads: directUploads(t.store) };
      };

      it("are offered whole, or refused as UNSUPPORTED worded so the mlflow client falls back to a plain upload", () => {
        const { store } = target();
        if (store.createDirectUpload) {
          expect(store.completeDirectUpload && store.abortDirectUpload).toBeTruthy();
          return;
        }
        let refused: { code?: string; message?: string } | undefined;
        try {
          directUploads(store);
        } catch (error) {
          refused = error as typeof refused;
        }
        expect(refused).toMatchObject({ code: "UNSUPPORTED" });
        expect(refused!.message!.startsWith(MLFLOW_NO_MULTIPART)).toBe(true);
      });

      it("create, PUT the parts to their URLs, complete: one blob named by content, read back whole, nothing left under tmp/", async ({ skip }) => {
        const { store, contents, uploads } = offered(skip);
        const pieces = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1234)];
        const data = Buffer.concat(pieces);
        const created = await uploads.createDirectUpload({ scope: "contract/a.bin", parts: 3 });
        expect(created.parts.map((p) => p.partNumber)).toEqual([1, 2, 3]);
        const sent = await sendParts(created.parts, pieces);
        const admitted: number[] = [];
        const blob = await uploads.completeDirectUpload(created.uploadId, {
          scope: "contract/a.bin",
          parts: [...sent].reverse(),
          maxBytes: 64 * MiB,
          admit: async (size) => void admitted.push(size),
        });
        expect(blob).toEqual({ digest: sha256(data), size: data.length });
        expect(admitted).toEqual([data.length]);
        expect(sha256(await buffer(await store.get(blob.digest)))).toBe(blob.digest);
        const names = await contents();
        expect(holding(names, blob.digest)).toHaveLength(1);
        expect(names.filter((n) => /(^|\/)tmp\//.test(n))).toEqual([]);
        // Done once: completing or aborting it again finds no upload (an abort of one gone succeeds).
        await expect(uploads.completeDirectUpload(created.uploadId, { scope: "contract/a.bin", parts: sent, maxBytes: 64 * MiB })).rejects.toMatchObject({ code: "NOT_FOUND" });
        await uploads.abortDirectUpload(created.uploadId, { scope: "contract/a.bin" });
      });

      it("refuses bad parts with INVALID_INPUT and keeps the upload open to fix; another scope or a made-up id finds no upload", async ({ skip }) => {
        const { uploads } = offered(skip);
        const scope = "contract/b.bin";
        const created = await uploads.createDirectUpload({ scope, parts: 3 });
        const [small, last] = await sendParts(created.parts, [randomBytes(1000), randomBytes(10)]);
        const complete = (parts: UploadedPart[], opts: { scope?: string; id?: string } = {}) =>
          uploads.completeDirectUpload(opts.id ?? created.uploadId, { scope: opts.scope ?? scope, parts, maxBytes: 64 * MiB });
        // A part under 5 MiB that is not the last.
        await expect(complete([small!, last!])).rejects.toMatchObject({ code: "INVALID_INPUT" });
        // A part never uploaded, a wrong ETag, a number out of range, the same part twice.
        await expect(complete([small!, { partNumber: 3, etag: last!.etag }])).rejects.toMatchObject({ code: "INVALID_INPUT" });
        await expect(complete([{ ...small!, etag: '"0000"' }])).rejects.toMatchObject({ code: "INVALID_INPUT" });
        await expect(complete([{ partNumber: 0, etag: small!.etag }])).rejects.toMatchObject({ code: "INVALID_INPUT" });
        await expect(complete([small!, small!])).rejects.toMatchObject({ code: "INVALID_INPUT" });
        await expect(complete([], {})).rejects.toMatchObject({ code: "INVALID_INPUT" });
        await expect(complete([small!], { scope: "contract/elsewhere.bin" })).rejects.toMatchObject({ code: "NOT_FOUND" });
        await expect(complete([small!], { id: "not-an-upload" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
        await expect(uploads.createDirectUpload({ scope, parts: 0 })).rejects.toMatchObject({ code: "INVALID_INPUT" });
        await expect(uploads.createDirectUpload({ scope, parts: 10_001 })).rejects.toMatchObject({ code: "INVALID_INPUT" });
        // Still open: the one small part alone is a whole (last) part.
        const blob = await complete([small!]);
        expect(blob.size).toBe(1000);
      });

      it("abort drops the upload and its parts; nothing is left", async ({ skip }) => {
        const { contents, uploads } = offered(skip);
        const before = new Set(await contents());
        const created = await uploads.createDirectUpload({ scope: "contract/c.bin", parts: 2 });
        const sent = await sendParts(created.parts, [randomBytes(5 * MiB), randomBytes(100)]);
        await uploads.abortDirectUpload(created.uploadId, { scope: "contract/c.bin" });
        await uploads.abortDirectUpload(created.uploadId, { scope: "contract/c.bin" });
        await expect(uploads.completeDirectUpload(created.uploadId, { scope: "contract/c.bin", parts: sent, maxBytes: 64 * MiB })).rejects.toMatchObject({ code: "NOT_FOUND" });
        expect((await contents()).filter((n) => !before.has(n))).toEqual([]);
      });

      it("deletes the assembled object when admit refuses it (a quota), and refuses a whole past maxBytes; no blob either way", async ({ skip }) => {
        const { store, contents, uploads } = offered(skip);
        const before = new Set(await contents());
        const pieces = [randomBytes(5 * MiB), randomBytes(2000)];
        const over = await uploads.createDirectUpload({ scope: "contract/d.bin", parts: 2 });
        const sent = await sendParts(over.parts, pieces);
        const quota = new PlatformError("QUOTA_EXCEEDED", "over quota");
        await expect(
          uploads.completeDirectUpload(over.uploadId, { scope: "contract/d.bin", parts: sent, maxBytes: 64 * MiB, admit: () => Promise.reject(quota) }),
        ).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
        const large = await uploads.createDirectUpload({ scope: "contract/e.bin", parts: 2 });
        const sentLarge = await sendParts(large.parts, pieces);
        await expect(uploads.completeDirectUpload(large.uploadId, { scope: "contract/e.bin", parts: sentLarge, maxBytes: 5 * MiB })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
        await uploads.abortDirectUpload(large.uploadId, { scope: "contract/e.bin" });
        expect(await store.has(sha256(Buffer.concat(pieces)))).toBe(false);
        expect((await contents()).filter((n) => !before.has(n))).toEqual([]);
      });

      it("fails with UNAVAILABLE when the backend cannot be reached", async ({ skip }) => {
        offered(skip);
        const uploads = directUploads(target().unreachable());
        await expect(uploads.createDirectUpload({ scope: "contract/f.bin", parts: 1 })).rejects.toMatchObject({ code: "UNAVAILABLE" });
        await expect(uploads.completeDirectUpload(`${"0".repeat(24)}.abc`, { scope: "contract/f.bin", parts: [{ partNumber: 1, etag: "x" }], maxBytes: MiB })).rejects.toMatchObject({ code: "UNAVAILABLE" });
      });
    });

    it("fails with UNAVAILABLE, saying so, when its backend cannot be reached", async () => {
      const store = target().unreachable();
      const refused = (await store.put(Buffer.from("hello"), { maxBytes: 100 }).catch((e: unknown) => e)) as { code?: string; message?: string };
      expect(refused).toMatchObject({ code: "UNAVAILABLE" });
      expect(refused.message).toMatch(/artifact store/);
      await expect(store.has("1".repeat(64))).rejects.toMatchObject({ code: "UNAVAILABLE" });
      await expect(store.get("1".repeat(64))).rejects.toMatchObject({ code: "UNAVAILABLE" });
    });
  });
}
