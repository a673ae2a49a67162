import { parse as parseYaml } from "yaml";
import { PlatformError, TEAM_ROLES, describeProblems, invalidInput, notFound, validate, type Clock, type Logger, type Principal, type ResourceRef, type TeamRole } from "../../core/index.ts";
import { PolicyDocument, type EffectivePolicyView, type PolicyRules, type PolicyView, type PolicyViolation } from "./policies-schema.ts";
import type { PolicyRow, PolicyStore } from "./policies-store.ts";

/** The alias whose moves `productionMovers` and `allowGateOverrides` govern. */
export const PRODUCTION = "production";
export const PLATFORM_SCOPE = "platform";
export const teamScope = (team: string) => `team:${team}`;

/** A job as policy and budget admission see it: its team and what it asks for. */
export interface JobAdmission {
  name: string;
  team: string;
  /** The profile it asked for; null for raw resources. */
  profile: string | null;
  gpus: number;
  gpuType: string | null;
  cpus: number;
  memoryMiB: number;
  /** Its maxRuntime, in seconds; undefined when it sets none. */
  maxRuntimeSeconds: number | undefined;
  /** Raw executor arguments its profile passes (the escape hatch); empty when none. */
  executorArgs: readonly string[];
  /** What its profile's pod spec patch reaches of the host (hostPath, privileged, …), one line each; absent or empty when nothing. */
  hostAccess?: readonly string[];
}

/** A gate policy checked and versioned by evaluation's parser (app.ts hands it in). */
export type GatePolicyParser = (policy: unknown) => { version: string; policy: unknown };

export interface PolicyServiceDeps {
  store: PolicyStore;
  clock: Clock;
  logger: Logger;
  /** The catalog's profile names, to catch a misspelt allowedProfiles entry when a policy is set. */
  knownProfiles: () => string[];
  /** Checks a requiredGatePolicy; without it, such a rule is refused (UNSUPPORTED). */
  parseGatePolicy?: GatePolicyParser;
}

/** A policy in force, with where it comes from (for messages). */
interface InForce {
  scope: string;
  version: number;
  rules: PolicyRules;
}

const MAX_DOCUMENT_BYTES = 256 * 1024;

/**
 * Platform-wide and per-team policy: versioned YAML documents (every version kept, with who set it
 * and when) and the checks the edge runs against them — job admission (allowed profiles, GPUs per
 * job, max runtime), who may move `production`, whether the gate may be forced, and the gate policy
 * a team's models are judged by. A request must satisfy the platform's policy and its team's, so a
 * team's policy can only narrow the platform's.
 */
export class PolicyService {
  constructor(private readonly deps: PolicyServiceDeps) {}

  /** A team as the policy sees it (for a team's policy routes); one the caller is not in answers as missing. */
  async teamResource(team: string): Promise<ResourceRef> {
    if (!(await this.deps.store.teamExists(team))) throw missingTeam(team);
    return { kind: "team", id: team, team, notFound: () => missingTeam(team) };
  }

  /** The policy in force for a scope (version 0, no rules, when none was ever set). */
  async get(scope: string): Promise<PolicyView> {
    const row = (await this.deps.store.latest([scope])).get(scope);
    return row ? view(row) : empty(scope);
  }

  /** The platform's policy and, with a team, the team's own. */
  async effective(team?: string): Promise<EffectivePolicyView> {
    const scopes = team === undefined ? [PLATFORM_SCOPE] : [PLATFORM_SCOPE, teamScope(team)];
    const rows = await this.deps.store.latest(scopes);
    const of = (scope: string) => {
      const row = rows.get(scope);
      return row ? view(row) : empty(scope);
    };
    return { team: team ?? null, platform: of(PLATFORM_SCOPE), teamPolicy: team === undefined ? null : of(teamScope(team)) };
  }

  async history(scope: string, limit: number): Promise<PolicyView[]> {
    return (await this.deps.store.history(scope, limit)).map(view);
  }

  /**
   * Stores the next version of a scope's policy from YAML (or JSON) text; an empty document
   * clears every rule. Every field is checked (an unknown one is refused with the closest known
   * name), a misspelt profile or an unknown user too.
   */
  async set(scope: string, text: string, principal: Principal): Promise<PolicyView> {
    if (Buffer.byteLength(text) > MAX_DOCUMENT_BYTES) throw invalidInput(`a policy document is at most ${MAX_DOCUMENT_BYTES} bytes; shorten it`);
    let raw: unknown;
    try {
      raw = parseYaml(text);
    } catch (error) {
      throw invalidInput(`the policy is not valid YAML or JSON: ${(error as Error).message}; see docs/teams.md#policies for the format`);
    }
    if (raw === null || raw === undefined) raw = {};
    const parsed = validate(PolicyDocument, raw);
    if (!parsed.success) {
      throw invalidInput(`invalid policy: ${describeProblems(parsed.problems)}; see docs/teams.md#policies for the rules a policy may set`, { problems: parsed.problems });
    }
    const rules = await this.rulesOf(parsed.data);
    if (scope !== PLATFORM_SCOPE && rules.requiredGatePolicy) {
      const platform = await this.get(PLATFORM_SCOPE);
      const required = platform.rules.requiredGatePolicy;
      if (required && required.version !== rules.requiredGatePolicy.version) {
        throw invalidInput(
          `the platform policy (version ${platform.version}) already requires gate policy ${required.version}, and a team's policy can only narrow the platform's; drop requiredGatePolicy, or require the same policy`,
          { rule: "requiredGatePolicy", platformVersion: platform.version, required: required.version },
        );
      }
    }
    // Two writers at once: the second takes the next number (a few tries), never overwrites.
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.get(scope);
      const row: PolicyRow = { scope, version: current.version + 1, document: text, rules: JSON.stringify(rules), created_by: principal.name, created_at: this.deps.clock.now() };
      if (await this.deps.store.insert(row)) {
        this.deps.logger.info({ scope, version: row.version, user: principal.name }, "policy changed");
        return view(row);
      }
    }
    throw new PlatformError("CONFLICT", `the ${scopeName(scope)} changed while this one was being set; set it again`);
  }

  // ---- the checks ----

  /** What the job breaks of the policies in force for its team (none: it may be submitted). */
  async jobViolations(job: JobAdmission): Promise<PolicyViolation[]> {
    const out: PolicyViolation[] = [];
    const inForce = await this.inForce(job.team);
    const hostAccess = this.hostAccessViolation(job, inForce);
    if (hostAccess) out.push(hostAccess);
    for (const p of inForce) {
      const at = { scope: p.scope, version: p.version };
      const { allowedProfiles, maxGpusPerJob, maxRuntimeSeconds, allowExecutorArgs } = p.rules;
      const where = describe(p);
      if (allowedProfiles) {
        const list = allowedProfiles.join(", ");
        if (job.profile === null) {
          out.push({ rule: "allowedProfiles", ...at, message: `job '${job.name}' asks for raw resources, but ${where} lets jobs use only the profiles ${list}; set compute.profile to one of them` });
        } else if (!allowedProfiles.includes(job.profile)) {
          out.push({ rule: "allowedProfiles", ...at, message: `job '${job.name}' asks for profile '${job.profile}', which ${where} does not allow; use one of ${list}` });
        }
      }
      if (maxGpusPerJob !== undefined && job.gpus > maxGpusPerJob) {
        out.push({ rule: "maxGpusPerJob", ...at, message: `job '${job.name}' asks for ${job.gpus} GPUs, above the ${maxGpusPerJob} per job ${where} allows; ask for at most ${maxGpusPerJob}` });
      }
      if (allowExecutorArgs === false && job.executorArgs.length > 0) {
        out.push({
          rule: "allowExecutorArgs",
          ...at,
          message: `job '${job.name}' asks for profile '${job.profile}', which passes raw executor arguments (${job.executorArgs.join(" ")}), and ${where} does not allow them; use a profile without slurm.extraArgs or kubernetes.podSpecPatch`,
        });
      }
      if (maxRuntimeSeconds !== undefined) {
        const most = formatDuration(maxRuntimeSeconds);
        if (job.maxRuntimeSeconds === undefined) {
          out.push({ rule: "maxRuntime", ...at, message: `job '${job.name}' sets no maxRuntime, and ${where} requires one of at most ${most}; set maxRuntime: ${most} (or less)` });
        } else if (job.maxRuntimeSeconds > maxRuntimeSeconds) {
          out.push({ rule: "maxRuntime", ...at, message: `job '${job.name}' sets maxRuntime ${formatDuration(job.maxRuntimeSeconds)}, above the ${most} ${where} allows; set maxRuntime: ${most} (or less)` });
        }
      }
    }
    return out;
  }

  /** Refuses (FORBIDDEN, naming each broken rule) a job the policies in force do not allow. */
  async assertJob(job: JobAdmission): Promise<void> {
    refuse(await this.jobViolations(job));
  }

  /**
   * Host access of a profile's pod spec patch is refused unless the platform policy allows it
   * (`allowHostAccess: true`) and no team policy in force says false: a container that mounts the
   * node or runs privileged is a way out of the job's confinement, so the default is no.
   */
  private hostAccessViolation(job: JobAdmission, inForce: InForce[]): PolicyViolation | undefined {
    if (!job.hostAccess?.length) return undefined;
    const platform = inForce.find((p) => p.scope === PLATFORM_SCOPE);
    const denying = inForce.find((p) => p.rules.allowHostAccess === false) ?? (platform?.rules.allowHostAccess === true ? undefined : (platform ?? { scope: PLATFORM_SCOPE, version: 0, rules: {} }));
    if (!denying) return undefined;
    const where = denying.version === 0 ? "the platform policy (none set: host access is refused by default)" : describe(denying);
    return {
      rule: "allowHostAccess",
      scope: denying.scope,
      version: denying.version,
      message: `job '${job.name}' asks for profile '${job.profile}', whose pod spec patch reaches the host (${job.hostAccess.join("; ")}), and ${where} does not allow that; use a profile without it, or a platform admin sets allowHostAccess: true`,
    };
  }

  /**
   * Refuses a move of `production` (the alias, or a deployment to production) of a model of `team`
   * by someone `productionMovers` does not name. Platform admins hold every role.
   */
  async assertProductionMover(principal: Principal, team: string, model: string): Promise<void> {
    const out: PolicyViolation[] = [];
    for (const p of await this.inForce(team)) {
      const movers = p.rules.productionMovers;
      if (!movers || mayMove(principal, team, movers)) continue;
      out.push({
        rule: "productionMovers",
        scope: p.scope,
        version: p.version,
        message: `${principal.name} may not move '${PRODUCTION}' of model '${model}': ${describe(p)} lets only ${movers.join(", ")} (in team ${team}) do that; ask one of them`,
      });
    }
    refuse(out);
  }

  /** Refuses forcing the production gate (alias or rollout) where a policy in force says allowGateOverrides: false. */
  async assertGateOverride(team: string, what: string): Promise<void> {
    const out: PolicyViolation[] = [];
    for (const p of await this.inForce(team)) {
      if (p.rules.allowGateOverrides !== false) continue;
      out.push({
        rule: "allowGateOverrides",
        scope: p.scope,
        version: p.version,
        message: `${describe(p)} allows no gate overrides, admins' included, so ${what} cannot be forced; pass the gate with \`paved evaluate\` (or a passing analysis) instead, or ask for the policy to change`,
      });
    }
    refuse(out);
  }

  /** The gate policy a team's models must be judged by (the platform's rule first), with where it comes from. */
  async requiredGatePolicy(team: string): Promise<{ policy: unknown; version: string; scope: string; policyVersion: number } | undefined> {
    for (const p of await this.inForce(team)) {
      const required = p.rules.requiredGatePolicy;
      if (required) return { policy: required.policy, version: required.version, scope: p.scope, policyVersion: p.version };
    }
    return undefined;
  }

  private async inForce(team: string): Promise<InForce[]> {
    const rows = await this.deps.store.latest([PLATFORM_SCOPE, teamScope(team)]);
    return [PLATFORM_SCOPE, teamScope(team)].flatMap((scope) => {
      const row = rows.get(scope);
      return row ? [{ scope, version: Number(row.version), rules: JSON.parse(row.rules) as PolicyRules }] : [];
    });
  }

  private async rulesOf(doc: PolicyDocument): Promise<PolicyRules> {
    const rules: PolicyRules = {};
    if (doc.allowedProfiles) {
      const known = this.deps.knownProfiles();
      const unknown = doc.allowedProfiles.filter((p) => !known.includes(p));
      if (unknown.length) {
        throw invalidInput(`allowedProfiles names ${unknown.map((p) => `'${p}'`).join(", ")}, not in the catalog; known profiles: ${known.join(", ")} (see \`paved profiles ls\`)`, { unknown, known });
      }
      rules.allowedProfiles = [...new Set(doc.allowedProfiles)];
    }
    if (doc.maxGpusPerJob !== undefined) rules.maxGpusPerJob = doc.maxGpusPerJob;
    if (doc.maxRuntime !== undefined) rules.maxRuntimeSeconds = doc.maxRuntime;
    if (doc.productionMovers) {
      const users = doc.productionMovers.filter((m) => m.startsWith("user:")).map((m) => m.slice("user:".length));
      const existing = await this.deps.store.existingUsers(users);
      const missing = users.filter((u) => !existing.has(u));
      if (missing.length) throw invalidInput(`productionMovers names users that do not exist: ${missing.join(", ")}; list users with \`paved users ls\``, { missing });
      rules.productionMovers = [...new Set(doc.productionMovers)];
    }
    if (doc.requiredGatePolicy !== undefined) {
      if (!this.deps.parseGatePolicy) throw new PlatformError("UNSUPPORTED", "this server cannot check gate policies, so requiredGatePolicy cannot be set; drop the rule");
      let parsed: { version: string; policy: unknown };
      try {
        parsed = this.deps.parseGatePolicy(doc.requiredGatePolicy);
      } catch (error) {
        throw invalidInput(`requiredGatePolicy: ${(error as Error).message}`, (error as PlatformError).details);
      }
      rules.requiredGatePolicy = parsed;
    }
    if (doc.allowGateOverrides !== undefined) rules.allowGateOverrides = doc.allowGateOverrides;
    if (doc.allowExecutorArgs !== undefined) rules.allowExecutorArgs = doc.allowExecutorArgs;
    if (doc.allowHostAccess !== undefined) rules.allowHostAccess = doc.allowHostAccess;
    return rules;
  }
}

function refuse(violations: PolicyViolation[]): void {
  if (violations.length === 0) return;
  const first = violations[0]!;
  throw new PlatformError("FORBIDDEN", `refused by policy (rule ${first.rule}): ${violations.map((v) => v.message).join("; ")} (see \`paved policy show\`)`, {
    rule: first.rule,
    scope: first.scope,
    policyVersion: first.version,
    violations,
  });
}

function mayMove(principal: Principal, team: string, movers: readonly string[]): boolean {
  if (principal.platformAdmin) return true;
  if (principal.kind !== "user" && principal.kind !== "service") return false;
  const role = principal.teams[team];
  return movers.some((m) => (m.startsWith("user:") ? m.slice("user:".length) === principal.name : role !== undefined && TEAM_ROLES.indexOf(role) >= TEAM_ROLES.indexOf(m as TeamRole)));
}

function describe(p: InForce): string {
  return `${scopeName(p.scope)} (version ${p.version})`;
}

function scopeName(scope: string): string {
  return scope === PLATFORM_SCOPE ? "the platform policy" : `team ${scope.slice("team:".length)}'s policy`;
}

function view(row: PolicyRow): PolicyView {
  return { scope: row.scope, version: Number(row.version), document: row.document, rules: JSON.parse(row.rules) as PolicyRules, createdBy: row.created_by, createdAt: Number(row.created_at) };
}

function empty(scope: string): PolicyView {
  return { scope, version: 0, document: "", rules: {}, createdBy: null, createdAt: null };
}

function missingTeam(team: string): Error {
  return notFound(`team '${team}' does not exist; list yours with \`paved teams ls\``);
}

/** Seconds as the shortest of "2d", "12h", "1h30m", "90s". */
export function formatDuration(seconds: number): string {
  let rest = Math.round(seconds);
  const parts: string[] = [];
  for (const [unit, size] of [["d", 86_400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join("") || "0s";
}
