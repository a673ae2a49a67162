// HTTP: assembles the server from the routes modules declare; owns authentication and the one
// map from error codes to HTTP statuses (and to MLflow's error_code for MLflow routes).
export { buildServer, type ServerOptions } from "./server.ts";
export { TokenService, hashToken, newToken } from "./auth.ts";
export { HTTP_STATUS, MLFLOW_ERROR_CODE, toErrorBody } from "./errors.ts";
