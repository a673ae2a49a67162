// /metrics of a real `paved up` under Debian's Prometheus (issue 12, items 3 and 4): promtool's
// lint passes on the output, a real Prometheus scrapes it with the bearer token, and the shipped
// alert rules and Grafana dashboard read only series Paved exports, in PromQL Prometheus accepts. The GPU is
// played by a stand-in nvidia-smi that prints a real H200's reading (test/fixtures/nvidia-smi-h200,
// query-gpu-busy.csv) in the order Paved's query asks for.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ServingMetrics } from "../src/modules/serving/metrics.ts";
import { freePort, startServerProcess, type ServerProcess } from "./support/server-process.ts";

const ROOT = new URL("..", import.meta.url).pathname;

const TOKEN = "pvd_prometheus-test-token-0123456789";

function need(program: string): void {
  if (spawnSync("sh", ["-c", `command -v ${program}`]).status !== 0) throw new Error(`${program} is missing: run scripts/install-deps.sh (it installs Debian's prometheus package)`);
}

describe("/metrics under a real Prometheus", () => {
  let server: ServerProcess | undefined;
  let prometheus: ChildProcess | undefined;
  afterAll(async () => {
    prometheus?.kill("SIGKILL");
    await server?.stop();
  });

  it("passes promtool's lint and is scraped with the bearer token: GPUs, jobs, HTTP, the process", async () => {
    need("promtool");
    need("prometheus");
    const root = mkdtempSync(join(tmpdir(), "paved-prometheus-"));
    const smi = join(root, "nvidia-smi");
    // index, uuid, name, memory.total, memory.used, utilization.gpu, temperature.gpu, power.draw of the busy H200 sample.
    writeFileSync(smi, "#!/bin/sh\necho '0, GPU-fcd2db5f-7c61-169b-d07d-f4234c13d9cb, NVIDIA H200, 143771, 4, 0, 38, 82.40'\n");
    chmodSync(smi, 0o755);
    server = await startServerProcess({ dataDir: join(root, "data"), token: TOKEN, config: { compute: { gpus: "auto", nvidiaSmi: smi, systemMetricsInterval: 1 } } });
    const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
    const job = (await (await fetch(`${server.url}/api/v1/jobs`, { method: "POST", headers, body: JSON.stringify({ name: "sleeper", command: ["sleep", "60"], workingDir: root }) })).json()) as { id: string };
    for (let i = 0; i < 100; i++) {
      if (((await (await fetch(`${server.url}/api/v1/jobs/${job.id}`, { headers })).json()) as { phase: string }).phase === "RUNNING") break;
      await new Promise((r) => setTimeout(r, 100));
    }

    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    const text = await (await fetch(`${server.url}/metrics`, { headers })).text();
    expect(text).toMatch(/^DCGM_FI_DEV_GPU_TEMP\{gpu="0",UUID="GPU-fcd2db5f-7c61-169b-d07d-f4234c13d9cb",device="nvidia0",model_name="NVIDIA H200",Hostname="[^"]+"\} 38$/m);
    expect(text).toMatch(/^DCGM_FI_DEV_FB_FREE\{.*\} 143767$/m);
    expect(text).toMatch(/^DCGM_FI_DEV_POWER_USAGE\{.*\} 82\.4$/m);
    expect(text).toMatch(/^paved_jobs_running\{team="default",profile="[^"]+"\} 1$/m);
    expect(text).toMatch(/^paved_http_requests_total\{method="GET",route="\/api\/v1\/jobs\/:id",status="200"\} \d+$/m);
    expect(text).toMatch(/^paved_database_ping_seconds \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    // This machine's kernel reports pressure stall information.
    expect(text).toMatch(/^node_pressure_memory_waiting_seconds_total \d/m);
    // promtool reads the text as Prometheus would and lints it: no finding, exit 0.
    const lint = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(lint.stdout + lint.stderr).toBe("");
    expect(lint.status).toBe(0);

    // A real Prometheus scrapes it with the token.
    const tokenFile = join(root, "token");
    writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
    const target = new URL(server.url).host;
    writeFileSync(
      join(root, "prometheus.yml"),
      // The scrape timeout is the interval (Prometheus refuses a longer one): 2 s leaves room for a
      // /metrics answered late on a loaded test machine.
      `global: { scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 2s }
scrape_configs:
  - job_name: paved
    metrics_path: /metrics
    authorization: { type: Bearer, credentials_file: ${tokenFile} }
    static_configs: [{ targets: ["${target}"] }]
`,
    );
    execFileSync("promtool", ["check", "config", join(root, "prometheus.yml")], { stdio: "pipe" });
    const port = await freePort();
    prometheus = spawn("prometheus", [`--config.file=${join(root, "prometheus.yml")}`, `--storage.tsdb.path=${join(root, "tsdb")}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: "ignore" });
    const query = async (q: string) => {
      try {
        const body = (await (await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
        return body.data.result;
      } catch {
        return [];
      }
    };
    let up: { value: [number, string] }[] = [];
    for (let i = 0; i < 600 && up[0]?.value[1] !== "1"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      up = await query('up{job="paved"}');
    }
    // On a miss, the message carries why Prometheus's scrapes failed (its targets API's lastError).
    const targets = up[0]?.value[1] === "1" ? "" : await (await fetch(`http://127.0.0.1:${port}/api/v1/targets`)).text().catch(String);
    expect(up[0]?.value[1], targets).toBe("1");
    expect((await query("DCGM_FI_DEV_GPU_TEMP"))[0]?.value[1]).toBe("38");
    expect((await query("sum(paved_jobs_running)"))[0]?.value[1]).toBe("1");
    expect((await query('paved_http_requests_total{route="/metrics",status="200"}')).length).toBe(1);

    // The shipped alert rules: valid, and their unit tests pass (promtool test rules).
    const deploy = join(ROOT, "deploy/prometheus");
    for (const args of [["check", "rules", "paved-rules.yml"], ["test", "rules", "paved-rules.test.yml"]]) {
      const r = spawnSync("promtool", args, { cwd: deploy, encoding: "utf8" });
      expect(r.status, r.stdout + r.stderr).toBe(0);
    }
    // Every series the rules and the Grafana dashboard read is one Paved exports, and every
    // dashboard query is PromQL this Prometheus accepts.
    const families = new Set([...`${text}\n${await new ServingMetrics().registry.metrics()}`.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!));
    const rules = readFileSync(join(deploy, "paved-rules.yml"), "utf8");
    const dashboard = JSON.parse(readFileSync(join(ROOT, "deploy/grafana/paved-overview.json"), "utf8")) as { panels: { targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(15);
    for (const source of [rules, ...exprs]) {
      for (const [name] of source.matchAll(/\b(?:paved|DCGM|node_pressure)_[A-Za-z0-9_]*/g)) {
        expect(families, `${name} is not exported`).toContain(name.replace(/_(bucket|sum|count)$/, ""));
      }
    }
    for (const expr of exprs) {
      const res = (await (await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr.replaceAll("$__rate_interval", "1m").replaceAll("$model", ".*").replaceAll("$environment", ".*"))}`)).json()) as { status: string; error?: string };
      expect(res.status, `${expr}: ${res.error}`).toBe("success");
    }
  }, 120_000);
});
