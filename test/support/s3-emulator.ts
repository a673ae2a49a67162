import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { pollUntil } from "./poll.ts";
import { freePort } from "./server-process.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

/**
 * An S3-compatible server the tests start as a child process on a loopback port, and stop with
 * SIGKILL to play an object store that is down. These are EMULATORS of Amazon S3, not S3: s3rver
 * (an npm devDependency, so every machine with `npm ci` has it) and moto's server mode (the
 * Python AWS emulator, used where `moto_server` is on PATH). Neither checks signatures the way S3
 * does, and neither enforces S3's 5 MiB smallest part.
 */
export interface S3Emulator {
  /** "s3rver" or "moto". */
  readonly name: string;
  readonly endpoint: string;
  readonly bucket: string;
  /** Keys the emulator accepts (any well-formed pair). */
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** A client with the settings Paved uses against S3-compatible servers. */
  client(): S3Client;
  /** Kills the server at once (SIGKILL): the endpoint refuses connections. */
  kill(): Promise<void>;
  /** Starts it again on the same port (s3rver keeps its objects; moto forgets them). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export const S3_TEST_BUCKET = "paved-test";

/** s3rver 3.x, run through its own command line (node_modules/s3rver/bin/s3rver.js). */
export async function startS3rver(): Promise<S3Emulator> {
  const directory = mkdtempSync(join(tmpdir(), "paved-s3rver-"));
  const port = await freePort();
  const launch = () =>
    spawn(process.execPath, [join(ROOT, "node_modules/s3rver/bin/s3rver.js"), "-d", directory, "-a", "127.0.0.1", "-p", String(port), "-s", "--configure-bucket", S3_TEST_BUCKET], {
      stdio: ["ignore", "pipe", "pipe"],
    });
  return emulator("s3rver", port, { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" }, launch, false);
}

/** Whether moto's server (`moto_server`, from Python's moto package) is installed here. */
export function motoInstalled(): boolean {
  return spawnSync("moto_server", ["--help"], { stdio: "ignore", timeout: 20_000 }).status === 0;
}

/** moto's server mode; the bucket is created through the API once it answers. */
export async function startMoto(): Promise<S3Emulator> {
  const port = await freePort();
  const launch = () => spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
  return emulator("moto", port, { accessKeyId: "testing", secretAccessKey: "testing" }, launch, true);
}

async function emulator(
  name: string,
  port: number,
  credentials: { accessKeyId: string; secretAccessKey: string },
  launch: () => ChildProcess,
  createBucket: boolean,
): Promise<S3Emulator> {
  const endpoint = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let output = "";
  const client = () =>
    new S3Client({
      region: "us-east-1",
      endpoint,
      forcePathStyle: true,
      credentials,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  const start = async () => {
    child = launch();
    child.stdout?.on("data", (d) => (output = (output + d).slice(-4000)));
    child.stderr?.on("data", (d) => (output = (output + d).slice(-4000)));
    const exited = new Promise<number | null>((resolve) => child!.once("exit", resolve));
    let gone = false;
    void exited.then(() => (gone = true));
    await pollUntil(
      `the ${name} S3 emulator on port ${port} answering`,
      // Only the emulator's own answer counts (its bucket list): a stranger on the port must not pass for it.
      async () => (gone ? "exited" : await fetch(endpoint).then(async (r) => ((await r.text()).includes("ListAllMyBucketsResult") ? "answering" : `a stranger answered ${r.status}`), () => "refused")),
      (state) => state === "answering",
      { timeoutMs: 30_000, intervalMs: 100, fail: (state) => (state === "exited" ? `it exited: ${output}` : undefined) },
    );
    if (createBucket) await client().send(new CreateBucketCommand({ Bucket: S3_TEST_BUCKET }));
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGKILL");
    await exited;
  };
  await start();
  return { name, endpoint, bucket: S3_TEST_BUCKET, credentials, client, kill, restart: start, stop: kill };
}
