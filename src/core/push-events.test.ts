import { describe, expect, it } from "vitest";
import { githubSignature, gitlabSignature, readPushWebhook } from "./push-events.ts";

const SECRET = "s3cret-of-the-trigger";
const now = Date.parse("2026-12-02T12:00:00Z");
const COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8";
const githubBody = Buffer.from(
  JSON.stringify({ ref: "refs/heads/main", after: COMMIT, deleted: false, repository: { full_name: "acme/churn", clone_url: "https://github.com/acme/churn.git", ssh_url: "git@github.com:acme/churn.git", html_url: "https://github.com/acme/churn" } }),
);
const gitlabBody = Buffer.from(JSON.stringify({ object_kind: "push", ref: "refs/heads/main", checkout_sha: COMMIT, after: COMMIT, project: { path_with_namespace: "acme/churn", git_http_url: "https://gitlab.example/acme/churn.git" } }));
const github = (_body = githubBody, signature = githubSignature(githubBody, SECRET), event = "push") => ({ "x-github-event": event, "x-github-delivery": "d-1", "x-hub-signature-256": signature, "content-type": "application/json" });

describe("push webhooks", () => {
  it("reads a GitHub push signed with the trigger's secret", () => {
    const delivery = readPushWebhook(github(), githubBody, SECRET, now);
    expect(delivery).toEqual({
      kind: "push",
      event: { provider: "github", deliveryId: "d-1", repository: "acme/churn", repositoryUrls: ["https://github.com/acme/churn.git", "git@github.com:acme/churn.git", "https://github.com/acme/churn"], branch: "main", ref: "refs/heads/main", commit: COMMIT, deleted: false },
    });
    // A ping (sent when the webhook is made) is verified and runs nothing.
    expect(readPushWebhook(github(githubBody, githubSignature(githubBody, SECRET), "ping"), githubBody, SECRET, now)).toMatchObject({ kind: "ignored", provider: "github" });
  });

  it("refuses a GitHub delivery whose signature is missing, wrong, or over other bytes", () => {
    const refused = (headers: Record<string, string>, body: Buffer) => expect(() => readPushWebhook(headers, body, SECRET, now)).toThrow(expect.objectContaining({ code: "UNAUTHENTICATED" }));
    const { ["x-hub-signature-256"]: _, ...unsigned } = github();
    refused(unsigned, githubBody);
    refused(github(githubBody, githubSignature(githubBody, "another secret")), githubBody);
    const tampered = Buffer.from(githubBody.toString().replace("main", "prod"));
    refused(github(tampered, githubSignature(githubBody, SECRET)), tampered);
    refused(github(githubBody, "sha256=00"), githubBody);
  });

  it("reads a GitLab push signed with a signing token (Standard Webhooks), within the timestamp tolerance", () => {
    const secret = `whsec_${Buffer.from("k".repeat(32)).toString("base64")}`;
    const ts = Math.floor(now / 1000);
    const headers = { "x-gitlab-event": "Push Hook", "webhook-id": "w-1", "webhook-timestamp": String(ts), "webhook-signature": `v1,AAAA ${gitlabSignature("w-1", ts, gitlabBody, secret)}` };
    expect(readPushWebhook(headers, gitlabBody, secret, now)).toMatchObject({ kind: "push", event: { provider: "gitlab", deliveryId: "w-1", repository: "acme/churn", branch: "main", commit: COMMIT } });
    // The same delivery ten minutes later is a replay: refused.
    expect(() => readPushWebhook(headers, gitlabBody, secret, now + 600_000)).toThrow(expect.objectContaining({ code: "UNAUTHENTICATED" }));
    // Another id under the same signature.
    expect(() => readPushWebhook({ ...headers, "webhook-id": "w-2" }, gitlabBody, secret, now)).toThrow(expect.objectContaining({ code: "UNAUTHENTICATED" }));
  });

  it("accepts GitLab's secret token only when it is the trigger's secret", () => {
    const headers = { "x-gitlab-event": "Push Hook", "x-gitlab-event-uuid": "u-1", "x-gitlab-token": SECRET };
    expect(readPushWebhook(headers, gitlabBody, SECRET, now)).toMatchObject({ kind: "push", event: { deliveryId: "u-1" } });
    expect(() => readPushWebhook({ ...headers, "x-gitlab-token": "guess" }, gitlabBody, SECRET, now)).toThrow(expect.objectContaining({ code: "UNAUTHENTICATED" }));
    const { ["x-gitlab-token"]: _, ...none } = headers;
    expect(() => readPushWebhook(none, gitlabBody, SECRET, now)).toThrow(expect.objectContaining({ code: "UNAUTHENTICATED" }));
  });

  it("says what is wrong with a delivery from neither sender, a body that is not JSON, or a push without a commit", () => {
    expect(() => readPushWebhook({}, githubBody, SECRET, now)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    const notJson = Buffer.from("ref=main");
    expect(() => readPushWebhook(github(notJson, githubSignature(notJson, SECRET)), notJson, SECRET, now)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    const noCommit = Buffer.from(JSON.stringify({ ref: "refs/heads/main", repository: { full_name: "acme/churn" } }));
    expect(() => readPushWebhook(github(noCommit, githubSignature(noCommit, SECRET)), noCommit, SECRET, now)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    // A tag push names no branch; a deleted branch says so.
    const tag = Buffer.from(JSON.stringify({ ref: "refs/tags/v1", after: COMMIT, repository: { full_name: "acme/churn" } }));
    expect(readPushWebhook(github(tag, githubSignature(tag, SECRET)), tag, SECRET, now)).toMatchObject({ event: { branch: undefined } });
    const deleted = Buffer.from(JSON.stringify({ ref: "refs/heads/old", after: "0".repeat(40), deleted: true, repository: { full_name: "acme/churn" } }));
    expect(readPushWebhook(github(deleted, githubSignature(deleted, SECRET)), deleted, SECRET, now)).toMatchObject({ event: { deleted: true } });
  });
});
