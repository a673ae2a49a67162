// Identity: who is calling (API tokens, stored hashed) and the one authorization policy that
// every route goes through. Below every other module: they declare actions, this decides.
export { authorize, mayAttempt } from "./policy.ts";
export { TokenService, hashToken, newToken, TOKEN_PREFIX, type AdminTokenResult } from "./token-service.ts";
