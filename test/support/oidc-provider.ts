// A real OpenID provider for single sign-on tests: the certified `oidc-provider` package on a
// loopback port, with one confidential client (code flow with PKCE, device flow), accounts kept in
// memory (their groups can change between logins), and plain login pages of its own (the package's
// development pages load fonts from the internet).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { exportJWK, generateKeyPair, type CryptoKey } from "jose";
import Provider, { type Configuration, type KoaContextWithOIDC } from "oidc-provider";

export interface TestAccount {
  sub: string;
  username: string;
  password: string;
  name?: string;
  email?: string;
  /** The `groups` claim; change it between logins to change what Paved maps. */
  groups: string[];
}

export interface TestProvider {
  /** `http://localhost:<port>`: another site than Paved's 127.0.0.1, as a real provider would be. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  accounts: Map<string, TestAccount>;
  /** The provider's signing key, for tests that build ID tokens the provider could have signed. */
  signingKey: { privateKey: CryptoKey; kid: string; alg: "RS256" };
  /** Replaces the signing key (a rotation: the JWKS then holds only the new one); the provider's sessions are lost. */
  rotateKey(): Promise<void>;
  close(): Promise<void>;
}

const html = (title: string, body: string) =>
  `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Starts the provider. The client's redirect URIs are read when the first request arrives, so a
 * test can start the provider, then Paved (which needs the issuer), then use both.
 */
export async function startTestProvider(options: { accounts: TestAccount[]; redirectUris: () => string[] }): Promise<TestProvider> {
  const accounts = new Map(options.accounts.map((a) => [a.username, a]));
  const newKey = async () => {
    const { privateKey } = await generateKeyPair("RS256", { extractable: true });
    const kid = `test-${randomBytes(4).toString("hex")}`;
    return { privateKey, kid, alg: "RS256" as const, jwk: { ...(await exportJWK(privateKey)), kid, alg: "RS256", use: "sig" } };
  };
  let key = await newKey();
  const clientId = "paved";
  const clientSecret = randomBytes(24).toString("base64url");
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const issuer = `http://localhost:${port}`;
  const bySub = () => new Map([...accounts.values()].map((a) => [a.sub, a]));

  let provider: Provider | undefined;
  const build = (): Provider => {
    const configuration: Configuration = {
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: options.redirectUris(),
          grant_types: ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"],
          response_types: ["code"],
          token_endpoint_auth_method: "client_secret_basic",
        },
      ],
      jwks: { keys: [key.jwk] },
      async findAccount(_ctx: KoaContextWithOIDC, sub: string) {
        const account = bySub().get(sub);
        if (!account) return undefined;
        return {
          accountId: sub,
          async claims() {
            return { sub, preferred_username: account.username, name: account.name, email: account.email, groups: [...account.groups] };
          },
        };
      },
      claims: { openid: ["sub"], profile: ["preferred_username", "name"], email: ["email"], groups: ["groups"] },
      scopes: ["openid", "profile", "email", "groups"],
      // Claims of the requested scopes go into the ID token, which is all Paved reads.
      conformIdTokenClaims: false,
      pkce: { required: () => true },
      ttl: { AccessToken: 600, AuthorizationCode: 60, DeviceCode: 600, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
      cookies: { keys: [randomBytes(16).toString("hex")] },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      // A first-party client: no consent page; the grant covers what the client asks.
      async loadExistingGrant(ctx: KoaContextWithOIDC) {
        const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
        if (grantId) {
          const existing = await ctx.oidc.provider.Grant.find(grantId);
          if (existing) return existing;
        }
        const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
        grant.addOIDCScope("openid profile email groups");
        await grant.save();
        return grant;
      },
      features: {
        devInteractions: { enabled: false },
        deviceFlow: {
          enabled: true,
          async userCodeInputSource(ctx, form, _out, err) {
            ctx.body = html("Enter the code", `${err ? "<p id=error>That code is not right</p>" : ""}${form}<button type=submit form="op.deviceInputForm">Continue</button>`);
          },
          async userCodeConfirmSource(ctx, form, _client, _deviceInfo, userCode) {
            ctx.body = html("Confirm the device", `<p>Code <code id=user-code>${escape(userCode)}</code></p>${form}<button id=confirm type=submit form="op.deviceConfirmForm">Continue</button>`);
          },
          async successSource(ctx) {
            ctx.body = html("Signed in", "<p id=done>You can close this page.</p>");
          },
        },
      },
      async renderError(ctx, out) {
        ctx.type = "html";
        ctx.body = html("Error", `<pre id=error>${escape(String(out.error))}</pre>`);
      },
    };
    const p = new Provider(issuer, configuration);
    // Its http:// issuer is fine on loopback; silence the warnings about insecure defaults.
    p.on("server_error", (_ctx, error) => console.error("oidc-provider:", error));
    return p;
  };

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    provider ??= build();
    const url = new URL(req.url ?? "/", issuer);
    const interaction = url.pathname.match(/^\/interaction\/([\w-]+)(\/login|\/abort)?$/);
    if (interaction) {
      void interactionPage(provider, accounts, req, res, interaction[1]!, interaction[2]).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(String(error));
      });
      return;
    }
    void provider.callback()(req, res);
  });

  return {
    issuer,
    clientId,
    clientSecret,
    accounts,
    get signingKey() {
      return { privateKey: key.privateKey, kid: key.kid, alg: key.alg };
    },
    async rotateKey() {
      key = await newKey();
      // Built again at the next request, with the new key.
      provider = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The provider's login page (GET) and its form's target (POST …/login); POST …/abort cancels. */
async function interactionPage(provider: Provider, accounts: Map<string, TestAccount>, req: IncomingMessage, res: ServerResponse, uid: string, action: string | undefined): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error("interaction mismatch");
  if (action === "/abort") {
    await provider.interactionFinished(req, res, { error: "access_denied", error_description: "the user cancelled" }, { mergeWithLastSubmission: false });
    return;
  }
  const form = (message: string) =>
    html(
      "Sign in",
      `${message}<form id=login method=post action="/interaction/${uid}/login"><input name=username autocomplete=off><input name=password type=password><button id=sign-in type=submit>Sign in</button></form>` +
        `<form id=abort method=post action="/interaction/${uid}/abort"><button id=cancel type=submit>Cancel</button></form>`,
    );
  if (action !== "/login") {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end(form(""));
    return;
  }
  let body = "";
  for await (const chunk of req) body += String(chunk);
  const fields = new URLSearchParams(body);
  const account = accounts.get(fields.get("username") ?? "");
  if (!account || account.password !== fields.get("password")) {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end(form("<p id=error>Wrong user name or password</p>"));
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
}
