import { mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { artifactStoreContract } from "../artifact-store.contract.ts";
import { LocalArtifactStore } from "./local-artifact-store.ts";

const root = mkdtempSync(join(tmpdir(), "paved-blobs-"));
const store = new LocalArtifactStore(root);
// A store whose folder sits under a regular file: every disk call fails (ENOTDIR), as on a lost mount.
const notAFolder = join(mkdtempSync(join(tmpdir(), "paved-blobs-broken-")), "file");
writeFileSync(notAFolder, "");

artifactStoreContract("local", () => ({
  store,
  contents: async () =>
    (readdirSync(root, { recursive: true }) as string[]).filter((name) => statSync(join(root, name)).isFile()).map((name) => name.split("\\").join("/")),
  unreachable: () => new LocalArtifactStore(join(notAFolder, "artifacts")),
}));
