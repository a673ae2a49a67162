import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { PlatformError, invalidInput } from "./errors.ts";

/**
 * Git push webhooks from GitHub and GitLab: who sent one, whether its signature holds, and which
 * repository, branch and commit it names. Every check runs over the exact bytes received, before any
 * of them is parsed, and every comparison is constant-time.
 * - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`; delivery `X-GitHub-Delivery`.
 * - GitLab with a signing token (Standard Webhooks): `webhook-signature: v1,<base64 HMAC-SHA256 of
 *   "<webhook-id>.<webhook-timestamp>.<body>">`, the timestamp within 5 minutes; delivery `webhook-id`.
 * - GitLab with a secret token: `X-Gitlab-Token: <the secret>` (it proves only that the sender knows
 *   the secret); delivery `X-Gitlab-Event-UUID`.
 */
export interface PushEvent {
  provider: "github" | "gitlab";
  /** The sender's id of this delivery: a replay carries the same one. */
  deliveryId: string;
  /** `owner/name` (GitHub's full_name, GitLab's path_with_namespace). */
  repository: string;
  /** The repository's clone and web URLs, as the sender gives them. */
  repositoryUrls: string[];
  /** The branch pushed to, or undefined when the ref is not a branch (a tag). */
  branch: string | undefined;
  ref: string;
  /** The commit the branch now points at. */
  commit: string;
  /** The push deleted the branch (nothing to run). */
  deleted: boolean;
}

/** What a verified request asks for: a push, or a ping/other event that runs nothing. */
export type WebhookDelivery = { kind: "push"; event: PushEvent } | { kind: "ignored"; provider: "github" | "gitlab"; deliveryId: string; reason: string };

/** A request's headers by lower-case name, as Node gives them. */
export type WebhookHeaders = Record<string, string | string[] | undefined>;

export const MAX_WEBHOOK_BYTES = 5 * 1024 * 1024;
const TIMESTAMP_TOLERANCE_SECONDS = 300;

const header = (headers: WebhookHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};
const unauthenticated = (why: string) => new PlatformError("UNAUTHENTICATED", `${why}; nothing was run. Give the webhook the secret of this trigger (GitHub: "Secret"; GitLab: "Signing token" or "Secret token")`);
const sameBytes = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);
/** Compares secrets of any length in constant time (their digests have one length). */
const sameSecret = (a: string, b: string) => timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());

/** The HMAC key of a GitLab signing token: `whsec_<base64>` is its base64 bytes, anything else its own bytes. */
const signingKey = (secret: string) => (secret.startsWith("whsec_") ? Buffer.from(secret.slice(6), "base64") : Buffer.from(secret));

/**
 * Verifies a delivery against the trigger's secret, then reads it. UNAUTHENTICATED for a missing or
 * wrong signature (or a GitLab timestamp out of tolerance), INVALID_INPUT for an unknown sender or a
 * body that is not a push payload.
 */
export function readPushWebhook(headers: WebhookHeaders, body: Buffer, secret: string, now: number): WebhookDelivery {
  if (body.length > MAX_WEBHOOK_BYTES) throw invalidInput(`a webhook body is at most ${MAX_WEBHOOK_BYTES} bytes`);
  const githubEvent = header(headers, "x-github-event");
  const gitlabEvent = header(headers, "x-gitlab-event");
  if (githubEvent !== undefined) {
    const signature = header(headers, "x-hub-signature-256");
    if (!signature) throw unauthenticated("the GitHub delivery has no X-Hub-Signature-256 header (the webhook has no secret)");
    const expected = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
    if (!sameBytes(Buffer.from(signature), Buffer.from(expected))) throw unauthenticated("the GitHub delivery's X-Hub-Signature-256 does not match its body under this trigger's secret");
    const deliveryId = bounded(header(headers, "x-github-delivery"), "X-GitHub-Delivery");
    if (githubEvent !== "push") return { kind: "ignored", provider: "github", deliveryId, reason: `GitHub event '${githubEvent.slice(0, 64)}' runs nothing (only push does)` };
    return { kind: "push", event: githubPush(parse(body), deliveryId) };
  }
  if (gitlabEvent !== undefined) {
    const deliveryId = verifyGitlab(headers, body, secret, now);
    if (gitlabEvent !== "Push Hook") return { kind: "ignored", provider: "gitlab", deliveryId, reason: `GitLab event '${gitlabEvent.slice(0, 64)}' runs nothing (only Push Hook does)` };
    return { kind: "push", event: gitlabPush(parse(body), deliveryId) };
  }
  throw invalidInput("the request is neither a GitHub (X-GitHub-Event) nor a GitLab (X-Gitlab-Event) webhook delivery; point a push webhook of either at this URL");
}

function verifyGitlab(headers: WebhookHeaders, body: Buffer, secret: string, now: number): string {
  const signature = header(headers, "webhook-signature");
  if (signature !== undefined) {
    const id = bounded(header(headers, "webhook-id"), "webhook-id");
    const timestamp = header(headers, "webhook-timestamp") ?? "";
    const seconds = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : NaN;
    if (!Number.isFinite(seconds) || Math.abs(now / 1000 - seconds) > TIMESTAMP_TOLERANCE_SECONDS) {
      throw unauthenticated(`the GitLab delivery's webhook-timestamp is missing or more than ${TIMESTAMP_TOLERANCE_SECONDS} s from this server's clock (a replay, or a clock to fix)`);
    }
    const expected = createHmac("sha256", signingKey(secret)).update(`${id}.${timestamp}.`).update(body).digest();
    // The header may list several space-separated signatures (key rotation): one must match.
    const ok = signature
      .split(" ")
      .slice(0, 8)
      .some((s) => s.startsWith("v1,") && sameBytes(Buffer.from(s.slice(3), "base64"), expected));
    if (!ok) throw unauthenticated("the GitLab delivery's webhook-signature does not match its body under this trigger's secret");
    return id;
  }
  const token = header(headers, "x-gitlab-token");
  if (token === undefined) throw unauthenticated("the GitLab delivery has neither a webhook-signature nor an X-Gitlab-Token header (the webhook has no signing token or secret token)");
  if (!sameSecret(token, secret)) throw unauthenticated("the GitLab delivery's X-Gitlab-Token is not this trigger's secret");
  return bounded(header(headers, "x-gitlab-event-uuid") ?? header(headers, "idempotency-key"), "X-Gitlab-Event-UUID");
}

function bounded(value: string | undefined, name: string): string {
  if (!value || value.length > 200) throw invalidInput(`the delivery has no ${name} header of at most 200 characters, which tells a replay from a new push`);
  return value;
}

function parse(body: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(body.toString("utf8"));
    if (value && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw invalidInput("the push payload is not a JSON object; set the webhook's content type to application/json");
}

const text = (v: unknown): string | undefined => (typeof v === "string" && v.length <= 2048 ? v : undefined);
const ZERO_COMMIT = /^0+$/;

function pushOf(provider: "github" | "gitlab", deliveryId: string, ref: unknown, commit: unknown, repository: unknown, urls: unknown[], deleted: boolean): PushEvent {
  const r = text(ref);
  const c = text(commit);
  const repo = text(repository);
  if (!r || !c || !repo) throw invalidInput(`the ${provider === "github" ? "GitHub" : "GitLab"} push payload lacks its ref, commit or repository; send a push event`);
  if (!/^[0-9a-f]{7,64}$/.test(c)) throw invalidInput(`the push names commit '${c.slice(0, 80)}', which is not a hexadecimal commit id`);
  return {
    provider,
    deliveryId,
    repository: repo,
    repositoryUrls: urls.map(text).filter((u): u is string => u !== undefined),
    branch: r.startsWith("refs/heads/") ? r.slice("refs/heads/".length) : undefined,
    ref: r,
    commit: c,
    deleted: deleted || ZERO_COMMIT.test(c),
  };
}

function githubPush(p: Record<string, unknown>, deliveryId: string): PushEvent {
  const repo = (p.repository ?? {}) as Record<string, unknown>;
  return pushOf("github", deliveryId, p.ref, p.after, repo.full_name, [repo.clone_url, repo.ssh_url, repo.html_url], p.deleted === true);
}

function gitlabPush(p: Record<string, unknown>, deliveryId: string): PushEvent {
  const project = (p.project ?? {}) as Record<string, unknown>;
  return pushOf("gitlab", deliveryId, p.ref, p.checkout_sha ?? p.after, project.path_with_namespace, [project.git_http_url, project.git_ssh_url, project.web_url], false);
}

/** The headers GitHub sends with a push, signed with `secret` (tests, and `paved` commands that replay a delivery). */
export function githubSignature(body: Buffer | string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** The Standard Webhooks signature a GitLab signing token gives (tests). */
export function gitlabSignature(id: string, timestamp: number, body: Buffer | string, secret: string): string {
  return `v1,${createHmac("sha256", signingKey(secret)).update(`${id}.${timestamp}.`).update(body).digest("base64")}`;
}
