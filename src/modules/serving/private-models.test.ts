import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../../../test/support/databases.ts";
import { createLogger, randomIds, systemClock } from "../../core/index.ts";
import { buildServer } from "../../http/index.ts";
import { TokenService } from "../identity/index.ts";
import { createServingModule } from "./index.ts";
import { buildTestModels } from "./test-models.ts";

// Evaluations ran their candidate under `paved-eval-<key>` in production: any token could call it
// at /v2/models/paved-eval-…, a user's model of that name collided with it, and its predictions
// filled the prediction log. A private load is reachable only through its handle.
describe("privately loaded versions (evaluation's)", async () => {
  const database = await openTestDatabase("sqlite");
  const logger = createLogger("silent");
  const tokens = new TokenService(database.db, systemClock, randomIds);
  const adminToken = "admin-token-for-tests-0123456789";
  await tokens.ensureAdmin(adminToken);
  const serving = createServingModule({ dataDir: database.dataDir, clock: systemClock, ids: randomIds, logger });
  const server = buildServer({ routes: serving.routes, tokens, logger, bodyLimit: 1 << 20, uploadLimit: 1 << 24, requestTimeoutMs: 60_000 });
  const auth = { authorization: `Bearer ${adminToken}` };
  afterAll(async () => {
    await serving.service.close();
    await server.close();
    await database.close();
  });

  it("answers through its handle only, beside a user's model of the same name, and logs nothing", async () => {
    const models = buildTestModels();
    const request = { inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [0.1, 0.2, 0.3, 0.4] }] };
    const own = await server.inject({ method: "PUT", url: "/api/v1/serving/models/paved-eval-x/versions/1", headers: { ...auth, "content-type": "application/octet-stream" }, payload: Buffer.from(models.bytes("tiny")) });
    expect(own.statusCode, own.body).toBe(200);
    const evaluated = await serving.service.loadPrivate({ name: "paved-eval-x", version: "1", bytes: models.bytes("tiny-v2") });
    const viaHandle = await evaluated.infer(request);
    const viaHttp = await server.inject({ method: "POST", url: "/v2/models/paved-eval-x/infer", headers: auth, payload: request });
    expect(viaHttp.statusCode).toBe(200);
    // The endpoint still answers with the user's version (other weights), not the private copy.
    expect(viaHttp.json().outputs[0].data).not.toEqual(viaHandle.outputs[0]!.data);
    await evaluated.unload();
    expect((await server.inject({ method: "POST", url: "/v2/models/paved-eval-x/infer", headers: auth, payload: request })).statusCode).toBe(200);

    const alone = await serving.service.loadPrivate({ name: "paved-eval-y", version: "1", bytes: models.bytes("tiny") });
    await alone.infer(request);
    expect((await server.inject({ method: "POST", url: "/v2/models/paved-eval-y/infer", headers: auth, payload: request })).statusCode).toBe(404);
    expect((await server.inject({ method: "GET", url: "/v2/models/paved-eval-y", headers: auth })).statusCode).toBe(404);
    await alone.unload();
    expect(existsSync(join(database.dataDir, "serving", "paved-eval-y"))).toBe(false);
  });
});
