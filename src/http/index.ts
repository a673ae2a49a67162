// HTTP: assembles the server from the routes modules declare; authenticates every request before
// its body is read, asks identity's policy about the route's action, and owns the one map from
// error codes to HTTP statuses (and to MLflow's error_code for MLflow routes). Routes marked `hot`
// (log-batch, log-metric) take the same steps in the hot lane, from node:http without Fastify.
export { buildServer, type ServerOptions } from "./server.ts";
export { requestId } from "./route-steps.ts";
export { HTTP_STATUS, MLFLOW_ERROR_CODE, toErrorBody } from "./errors.ts";
export { FORWARDED_BY, HOP_BY_HOP, leaderForwarder, leaderUpgradeForwarder, pipeRequest, type LeaderForwarding } from "./forward.ts";
export { WebUi, WEB_UI_DIR, CONTENT_SECURITY_POLICY } from "./web-ui.ts";
