import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { LocalArtifactStore } from "./local-artifact-store.ts";

describe("LocalArtifactStore", () => {
  const store = new LocalArtifactStore(mkdtempSync(join(tmpdir(), "paved-blobs-")));

  it("stores by content and reads back", async () => {
    const a = await store.put(Buffer.from("hello"), { maxBytes: 100 });
    const b = await store.put(Readable.from([Buffer.from("hel"), Buffer.from("lo")]), { maxBytes: 100 });
    expect(a).toEqual(b);
    expect(a.digest).toBe("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    expect(await text(await store.get(a.digest))).toBe("hello");
  });

  it("refuses a blob past the size limit", async () => {
    await expect(store.put(Buffer.alloc(101), { maxBytes: 100 })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
  });

  it("answers NOT_FOUND for unknown and malformed digests", async () => {
    await expect(store.get("0".repeat(64))).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(store.get("../../etc/passwd")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
