import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { PlatformError } from "../../../core/index.ts";

/** Algorithms an ID token may be signed with: asymmetric ones only, never `none` or a secret shared with the client. */
export const ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];
/** Clocks of Paved and the provider may disagree by this much. */
const CLOCK_TOLERANCE_SECONDS = 60;
/** An ID token issued longer ago than this is refused whatever its expiry says (a login uses it at once). */
const MAX_TOKEN_AGE_SECONDS = 600;

export interface IdTokenExpectations {
  /** The configured issuer; `iss` must equal it exactly. */
  issuer: string;
  /** Paved's client id: the audience, and `azp` when there are several audiences. */
  clientId: string;
  /** The nonce the login sent; undefined for a device login, which sends none. */
  nonce?: string | undefined;
  /** Now, in ms since the epoch. */
  now: number;
  /** Algorithms the provider signs with (from its discovery document); default ID_TOKEN_ALGORITHMS. */
  algorithms?: string[] | undefined;
}

/** A verified ID token's claims. */
export type IdTokenClaims = JWTPayload & { sub: string; [claim: string]: unknown };

/** Which check an ID token failed, for `details.check` (the token itself never appears in an answer). */
export type IdTokenCheck = "malformed" | "algorithm" | "signature" | "issuer" | "audience" | "expired" | "too-old" | "not-yet-valid" | "nonce" | "claims";

/**
 * Verifies an ID token: signature by a key of the provider's JWKS with an allowed algorithm,
 * issuer, audience (and `azp`), expiry, age, and nonce. Throws UNAUTHENTICATED (details.reason
 * `sso_id_token`, details.check the failed check) or, when the keys cannot be fetched, UNAVAILABLE.
 */
export async function verifyIdToken(idToken: string, keys: JWTVerifyGetKey, expected: IdTokenExpectations): Promise<IdTokenClaims> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, keys, {
      issuer: expected.issuer,
      audience: expected.clientId,
      algorithms: expected.algorithms ?? ID_TOKEN_ALGORITHMS,
      currentDate: new Date(expected.now),
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      maxTokenAge: MAX_TOKEN_AGE_SECONDS,
      requiredClaims: ["sub", "exp", "iat"],
    }));
  } catch (error) {
    throw checkFailed(error);
  }
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if ((audiences.length > 1 || payload.azp !== undefined) && payload.azp !== expected.clientId) throw idTokenRefused("audience");
  if (expected.nonce !== undefined && payload.nonce !== expected.nonce) throw idTokenRefused("nonce");
  if (typeof payload.sub !== "string" || payload.sub.length === 0 || payload.sub.length > 255) throw idTokenRefused("claims");
  return payload as IdTokenClaims;
}

export function idTokenRefused(check: IdTokenCheck): PlatformError {
  return new PlatformError(
    "UNAUTHENTICATED",
    `the identity provider's ID token was refused (${check}); sign in again, and if it keeps failing ask an admin to compare auth.sso (issuer, clientId) with the provider's settings`,
    { reason: "sso_id_token", check },
  );
}

function checkFailed(error: unknown): PlatformError {
  if (error instanceof errors.JWTExpired) return idTokenRefused(error.claim === "iat" ? "too-old" : "expired");
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "iss") return idTokenRefused("issuer");
    if (error.claim === "aud") return idTokenRefused("audience");
    if (error.claim === "nbf" || error.claim === "iat") return idTokenRefused("not-yet-valid");
    return idTokenRefused("claims");
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) return idTokenRefused("algorithm");
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return idTokenRefused("signature");
  }
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || !(error instanceof errors.JOSEError)) {
    return new PlatformError("UNAVAILABLE", "the identity provider's signing keys (JWKS) could not be fetched; try again, and if it keeps failing check that Paved reaches the provider", {
      reason: "sso_provider",
    });
  }
  return idTokenRefused("malformed");
}
