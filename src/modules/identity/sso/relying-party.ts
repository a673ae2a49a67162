import { createRemoteJWKSet, type JWTVerifyGetKey } from "jose";
import * as oidc from "openid-client";
import { PlatformError, type Logger } from "../../../core/index.ts";
import { ID_TOKEN_ALGORITHMS, verifyIdToken, type IdTokenClaims } from "./id-token.ts";

/** The provider Paved signs in with, from configuration (auth.sso). */
export interface ProviderSettings {
  issuer: string;
  clientId: string;
  clientSecret?: string | undefined;
  scopes: string[];
}

/** What a device login shows the user. */
export interface DeviceAuthorization {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string | undefined;
  expiresInSeconds: number;
  intervalSeconds: number;
}

export type DevicePoll = { status: "pending"; slowDown: boolean } | { status: "complete"; idToken: string };

/** The reasons (details.reason) a sign-in is refused with; stable, like the error codes. */
export type SsoRefusal = "sso_state" | "sso_denied" | "sso_code" | "sso_expired" | "sso_id_token" | "sso_response" | "user_disabled";

interface Discovered {
  config: oidc.Configuration;
  keys: JWTVerifyGetKey;
  algorithms: string[];
}

/** Seconds one request to the provider may take. */
const PROVIDER_TIMEOUT_SECONDS = 10;
/** RFC 8628's default polling interval, when the provider names none. */
const DEFAULT_DEVICE_INTERVAL_SECONDS = 5;

/**
 * Paved as an OpenID Connect relying party, on openid-client (discovery, PKCE, the code and device
 * grants, the response checks) and jose (the ID token's signature against the provider's JWKS,
 * refetched when the provider rotates its keys). Only the configured issuer's discovery document
 * is fetched, and the endpoints and keys it names.
 */
export class RelyingParty {
  private discovered: Promise<Discovered> | undefined;

  constructor(
    private readonly settings: ProviderSettings,
    private readonly logger: Logger,
  ) {}

  get issuer(): string {
    return this.settings.issuer;
  }

  /** The authorization request a browser is sent to (authorization code with PKCE S256, state and nonce). */
  async authorizationUrl(input: { redirectUri: string; state: string; nonce: string; codeVerifier: string }): Promise<URL> {
    const { config } = await this.provider();
    return oidc.buildAuthorizationUrl(config, {
      response_type: "code",
      redirect_uri: input.redirectUri,
      scope: this.scope(),
      state: input.state,
      nonce: input.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(input.codeVerifier),
      code_challenge_method: "S256",
    });
  }

  /** Exchanges the code of a callback (once) and returns the verified ID token's claims. */
  async exchangeCode(callbackUrl: URL, checks: { state: string; nonce: string; codeVerifier: string; now: number }): Promise<IdTokenClaims> {
    const { config } = await this.provider();
    let idToken: string | undefined;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
      idToken = tokens.id_token;
    } catch (error) {
      throw this.translate(error, "code");
    }
    if (!idToken) throw refused("sso_response", "the identity provider answered without an ID token; ask an admin to check that the client may use the openid scope");
    return this.verify(idToken, checks.nonce, checks.now);
  }

  /** Starts a device authorization (RFC 8628) for the CLI; UNSUPPORTED when the provider offers none. */
  async startDevice(): Promise<DeviceAuthorization> {
    const { config } = await this.provider();
    if (!config.serverMetadata().device_authorization_endpoint) {
      throw new PlatformError(
        "UNSUPPORTED",
        "the identity provider offers no device authorization grant, which `paved login --sso` needs; enable it for Paved's client at the provider, or sign in in a browser and create a token there (`paved tokens create`)",
      );
    }
    try {
      const answer = await oidc.initiateDeviceAuthorization(config, { scope: this.scope() });
      return {
        deviceCode: answer.device_code,
        userCode: answer.user_code,
        verificationUri: answer.verification_uri,
        verificationUriComplete: answer.verification_uri_complete,
        expiresInSeconds: answer.expires_in,
        intervalSeconds: answer.interval ?? DEFAULT_DEVICE_INTERVAL_SECONDS,
      };
    } catch (error) {
      throw this.translate(error, "device");
    }
  }

  /** Asks the provider once whether the user finished a device login. */
  async pollDevice(deviceCode: string): Promise<DevicePoll> {
    const { config } = await this.provider();
    try {
      const tokens = await oidc.genericGrantRequest(config, "urn:ietf:params:oauth:grant-type:device_code", { device_code: deviceCode });
      if (!tokens.id_token) throw refused("sso_response", "the identity provider answered without an ID token; ask an admin to check that the client may use the openid scope");
      return { status: "complete", idToken: tokens.id_token };
    } catch (error) {
      if (error instanceof oidc.ResponseBodyError && (error.error === "authorization_pending" || error.error === "slow_down")) {
        return { status: "pending", slowDown: error.error === "slow_down" };
      }
      throw this.translate(error, "device");
    }
  }

  /** Verifies an ID token of this provider (see verifyIdToken). */
  async verify(idToken: string, nonce: string | undefined, now: number): Promise<IdTokenClaims> {
    const { keys, algorithms } = await this.provider();
    return verifyIdToken(idToken, keys, { issuer: this.settings.issuer, clientId: this.settings.clientId, nonce, now, algorithms });
  }

  private scope(): string {
    return [...new Set(["openid", ...this.settings.scopes])].join(" ");
  }

  /** Discovery, once; a failure is not remembered, so the next sign-in tries again. */
  private provider(): Promise<Discovered> {
    this.discovered ??= this.discover().catch((error: unknown) => {
      this.discovered = undefined;
      throw error;
    });
    return this.discovered;
  }

  private async discover(): Promise<Discovered> {
    const issuer = new URL(this.settings.issuer);
    let config: oidc.Configuration;
    try {
      config = await oidc.discovery(
        issuer,
        this.settings.clientId,
        this.settings.clientSecret ? { client_secret: this.settings.clientSecret } : undefined,
        this.settings.clientSecret ? oidc.ClientSecretBasic(this.settings.clientSecret) : oidc.None(),
        // Plain http only where configuration allowed it: a loopback issuer (tests).
        { timeout: PROVIDER_TIMEOUT_SECONDS, ...(issuer.protocol === "http:" ? { execute: [oidc.allowInsecureRequests] } : {}) },
      );
    } catch (error) {
      this.logger.warn({ err: error, issuer: this.settings.issuer }, "single sign-on: the provider's discovery document could not be read");
      throw new PlatformError(
        "UNAVAILABLE",
        `the identity provider ${this.settings.issuer} could not be reached or its discovery document was refused; try again, and if it keeps failing an admin should check auth.sso.issuer (the server log has the details)`,
        { reason: "sso_provider" },
      );
    }
    const metadata = config.serverMetadata();
    if (!metadata.jwks_uri) throw new PlatformError("CONFIG", `the identity provider ${this.settings.issuer} names no jwks_uri, so its ID tokens cannot be verified; use an OpenID Connect issuer`);
    const offered = metadata.id_token_signing_alg_values_supported ?? ["RS256"];
    const algorithms = offered.filter((a) => ID_TOKEN_ALGORITHMS.includes(a));
    return {
      config,
      // A key id not seen yet fetches the JWKS again (a rotation), at most once a second: ID tokens
      // reach Paved only from the provider's token endpoint, so nobody else can make it refetch.
      keys: createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: PROVIDER_TIMEOUT_SECONDS * 1000, cooldownDuration: 1000 }),
      algorithms: algorithms.length ? algorithms : ["RS256"],
    };
  }

  /** What the provider's or openid-client's refusal means for the user; nothing of the provider's answer is passed on. */
  private translate(error: unknown, flow: "code" | "device"): PlatformError {
    if (error instanceof PlatformError) return error;
    if (error instanceof oidc.AuthorizationResponseError) {
      return refused("sso_denied", "the sign-in was cancelled or refused at the identity provider; sign in again");
    }
    if (error instanceof oidc.ResponseBodyError) {
      this.logger.warn({ error: error.error, description: error.error_description, flow }, "single sign-on: the identity provider refused a request");
      switch (error.error) {
        case "access_denied":
          return refused("sso_denied", "the sign-in was refused at the identity provider; sign in again");
        case "expired_token":
          return refused("sso_expired", "the device login expired before it was finished; run `paved login --sso` again");
        case "invalid_grant":
          return refused("sso_code", "the identity provider refused this sign-in's code (used, expired or not this login's); sign in again");
        case "invalid_client":
        case "unauthorized_client":
        case "unsupported_grant_type":
        case "invalid_scope":
          return new PlatformError("CONFIG", `the identity provider refused Paved's client (${error.error}); an admin should check auth.sso (clientId, clientSecret, scopes) against the provider's client settings`);
        default:
          return refused("sso_response", `the identity provider refused the sign-in (${error.error}); sign in again`);
      }
    }
    if (error instanceof oidc.ClientError) {
      const code = error.code ?? "";
      if (["OAUTH_TIMEOUT", "OAUTH_ABORT", "OAUTH_RESPONSE_IS_NOT_CONFORM", "OAUTH_RESPONSE_IS_NOT_JSON"].includes(code)) return unavailable(this.settings.issuer);
      this.logger.warn({ code, message: error.message, flow }, "single sign-on: the identity provider's answer failed a check");
      if (code === "OAUTH_JWT_CLAIM_COMPARISON_FAILED" || code === "OAUTH_JWT_TIMESTAMP_CHECK_FAILED") {
        return new PlatformError("UNAUTHENTICATED", "the identity provider's ID token was refused (claims); sign in again", { reason: "sso_id_token", check: "claims" });
      }
      if (code === "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED" || code === "OAUTH_INVALID_RESPONSE") {
        return refused("sso_state", "this sign-in's answer does not belong to the login that was started; sign in again");
      }
      return refused("sso_response", "the identity provider's answer was refused; sign in again");
    }
    this.logger.warn({ err: error, flow }, "single sign-on: the identity provider could not be reached");
    return unavailable(this.settings.issuer);
  }
}

export function refused(reason: SsoRefusal, message: string): PlatformError {
  return new PlatformError("UNAUTHENTICATED", message, { reason });
}

function unavailable(issuer: string): PlatformError {
  return new PlatformError("UNAVAILABLE", `the identity provider ${issuer} did not answer in time; try again`, { reason: "sso_provider" });
}
