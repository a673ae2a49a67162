import { z } from "zod";

/**
 * The PodSpec fields a profile's `kubernetes.podSpecPatch` may set (the escape hatch). Paved owns
 * what runs and how it is found again: the restart policy, the hostname and subdomain of a
 * distributed job's pods, and of its container `job` the command, arguments and environment
 * (the job's token comes from a Secret through envFrom). Everything else of a PodSpec may be set;
 * what reaches the host (hostPath volumes, privileged containers, host namespaces, added
 * capabilities) is listed by `podSpecPatchHostAccess` and refused by policy unless an admin allows it.
 */
export const POD_SPEC_PATCH_FIELDS = [
  "activeDeadlineSeconds",
  "affinity",
  "automountServiceAccountToken",
  "containers",
  "dnsConfig",
  "dnsPolicy",
  "enableServiceLinks",
  "hostIPC",
  "hostNetwork",
  "hostPID",
  "hostUsers",
  "imagePullSecrets",
  "initContainers",
  "nodeName",
  "nodeSelector",
  "os",
  "overhead",
  "preemptionPolicy",
  "priority",
  "priorityClassName",
  "readinessGates",
  "resourceClaims",
  "runtimeClassName",
  "schedulerName",
  "schedulingGates",
  "securityContext",
  "serviceAccountName",
  "shareProcessNamespace",
  "terminationGracePeriodSeconds",
  "tolerations",
  "topologySpreadConstraints",
  "volumes",
] as const;

/** Fields of Paved's container `job` that a patch may not set. */
const OWNED_CONTAINER_FIELDS = ["command", "args", "env", "envFrom", "name"] as const;
/** The name of the container Paved runs the job's program in. */
export const JOB_CONTAINER = "job";
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** What is wrong with a pod spec patch (its shape, not its policy), or an empty list. */
export function podSpecPatchProblems(patch: JsonObject): string[] {
  const problems: string[] = [];
  const size = JSON.stringify(patch).length;
  if (size > 64 * 1024) problems.push(`the pod spec patch is ${size} bytes of JSON; at most 65536`);
  for (const key of Object.keys(patch)) {
    if (!(POD_SPEC_PATCH_FIELDS as readonly string[]).includes(key)) {
      problems.push(`podSpecPatch.${key} may not be set (Paved owns restartPolicy, hostname and subdomain, or it is not a PodSpec field); allowed: ${POD_SPEC_PATCH_FIELDS.join(", ")}`);
    }
  }
  for (const list of ["containers", "initContainers", "volumes", "tolerations", "imagePullSecrets", "topologySpreadConstraints"] as const) {
    if (patch[list] !== undefined && (!Array.isArray(patch[list]) || !(patch[list] as unknown[]).every(isObject))) problems.push(`podSpecPatch.${list} must be a list of objects`);
  }
  for (const map of ["nodeSelector", "affinity", "securityContext", "dnsConfig", "os", "overhead"] as const) {
    if (patch[map] !== undefined && !isObject(patch[map])) problems.push(`podSpecPatch.${map} must be an object`);
  }
  if (Array.isArray(patch.containers)) {
    for (const [i, c] of (patch.containers as unknown[]).entries()) {
      if (!isObject(c)) continue;
      if (typeof c.name !== "string" || !NAME.test(c.name)) {
        problems.push(`podSpecPatch.containers[${i}] needs a name (lowercase letters, digits, '-'): '${JOB_CONTAINER}' patches Paved's container, another name adds a sidecar`);
        continue;
      }
      if (c.name === JOB_CONTAINER) {
        for (const f of OWNED_CONTAINER_FIELDS) {
          if (f !== "name" && c[f] !== undefined) problems.push(`podSpecPatch.containers[${i}].${f} may not be set on container '${JOB_CONTAINER}': Paved sets the job's program and environment (use the job's command and env)`);
        }
      } else if (typeof c.image !== "string" || c.image === "") {
        problems.push(`podSpecPatch.containers[${i}] ('${c.name}') is a sidecar and needs an image`);
      }
    }
  }
  if (Array.isArray(patch.volumes)) {
    for (const [i, v] of (patch.volumes as unknown[]).entries()) {
      if (isObject(v) && (typeof v.name !== "string" || !NAME.test(v.name))) problems.push(`podSpecPatch.volumes[${i}] needs a name (lowercase letters, digits, '-')`);
    }
  }
  return problems;
}

/**
 * What of a pod spec patch reaches the host, one line each: hostPath volumes, privileged
 * containers or privilege escalation, host network/PID/IPC namespaces, host users, added
 * capabilities. Empty when none; policy rule `allowHostAccess` decides.
 */
export function podSpecPatchHostAccess(patch: JsonObject | undefined): string[] {
  if (!patch) return [];
  const out: string[] = [];
  for (const v of Array.isArray(patch.volumes) ? patch.volumes : []) {
    if (isObject(v) && v.hostPath !== undefined) out.push(`hostPath volume '${String(v.name)}' (${isObject(v.hostPath) ? String(v.hostPath.path) : "?"})`);
  }
  for (const ns of ["hostNetwork", "hostPID", "hostIPC"] as const) if (patch[ns] === true) out.push(`${ns}: true`);
  if (patch.hostUsers === true) out.push("hostUsers: true");
  const containers = [...(Array.isArray(patch.containers) ? patch.containers : []), ...(Array.isArray(patch.initContainers) ? patch.initContainers : [])];
  for (const c of containers) {
    if (!isObject(c) || !isObject(c.securityContext)) continue;
    const sc = c.securityContext;
    const name = String(c.name);
    if (sc.privileged === true) out.push(`privileged container '${name}'`);
    if (sc.allowPrivilegeEscalation === true) out.push(`container '${name}' allows privilege escalation`);
    if (isObject(sc.capabilities) && Array.isArray(sc.capabilities.add) && sc.capabilities.add.length > 0) out.push(`container '${name}' adds capabilities ${sc.capabilities.add.map(String).join(", ")}`);
    if (sc.procMount === "Unmasked") out.push(`container '${name}' has procMount Unmasked`);
  }
  return out;
}

/** A profile's `kubernetes.podSpecPatch`: a partial PodSpec merged into Paved's (see podSpecPatchProblems). */
export const podSpecPatchSchema = z.record(z.string(), z.unknown()).superRefine((patch, ctx) => {
  for (const message of podSpecPatchProblems(patch)) ctx.addIssue({ code: "custom", message });
});
