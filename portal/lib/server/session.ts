// The portal's side of the session: tokens live only in httpOnly cookies, never in the page's JavaScript.
// The browser talks to /api/v1/* on the portal's origin; the proxy adds the access token, renews it with the
// refresh token when it has expired, and turns token pairs from the gateway into cookies.

export const ACCESS_COOKIE = "bzs_access";
export const REFRESH_COOKIE = "bzs_refresh";

export type TokenPair = { access: string; refresh: string; tenant: string | null };

export function gatewayUrl(): string {
  return (process.env.GATEWAY_URL || "http://127.0.0.1:8000").replace(/\/+$/, "");
}

/** Seconds until the JWT expires (0 when it cannot be read or has expired). The signature is the gateway's
 * business: this only decides how long the cookie lives. */
export function secondsLeft(jwt: string | undefined, now = Date.now()): number {
  if (!jwt) return 0;
  try {
    const payload = JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
    return Math.max(0, Math.floor(Number(payload.exp) - now / 1000));
  } catch {
    return 0;
  }
}

export function isTokenPair(body: unknown): body is TokenPair {
  return (
    typeof body === "object" &&
    body !== null &&
    typeof (body as TokenPair).access === "string" &&
    typeof (body as TokenPair).refresh === "string"
  );
}

export function secureCookies(): boolean {
  if (process.env.PORTAL_SECURE_COOKIES) return process.env.PORTAL_SECURE_COOKIES === "1";
  return process.env.NODE_ENV === "production" && (process.env.PORTAL_URL || "").startsWith("https://");
}

// A refresh token is single use (the gateway rotates and blacklists it). Requests that arrive together with
// the same expired session share one renewal, and the answer is kept briefly for requests that started with
// the old cookie and arrive a little later.
const renewals = new Map<string, { at: number; pair: Promise<TokenPair | null> }>();
const KEEP_MS = 30_000;

export function renew(refresh: string, fetchImpl: typeof fetch = fetch): Promise<TokenPair | null> {
  const now = Date.now();
  for (const [key, entry] of renewals) if (now - entry.at > KEEP_MS) renewals.delete(key);
  const known = renewals.get(refresh);
  if (known) return known.pair;
  const pair = (async () => {
    try {
      const response = await fetchImpl(`${gatewayUrl()}/api/v1/auth/refresh/`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ refresh }),
        cache: "no-store",
      });
      if (!response.ok) return null;
      const body = await response.json();
      // simplejwt answers {access, refresh}; the tenant claim stays in the tokens
      return typeof body.access === "string"
        ? { access: body.access, refresh: body.refresh ?? refresh, tenant: null }
        : null;
    } catch {
      return null;
    }
  })();
  renewals.set(refresh, { at: now, pair });
  return pair;
}
