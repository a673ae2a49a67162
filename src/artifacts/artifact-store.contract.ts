import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import type { ArtifactStore } from "./artifact-store.ts";

export interface ArtifactStoreTarget {
  store: ArtifactStore;
  /** Every name the backend holds now (files under the folder, keys in the bucket): what a failed put must not add to. */
  contents(): Promise<string[]>;
  /** The same kind of store whose backend cannot be reached (a closed port, a folder that cannot be written). */
  unreachable(): ArtifactStore;
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
