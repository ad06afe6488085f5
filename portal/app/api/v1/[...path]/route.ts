import { NextRequest, NextResponse } from "next/server";

import {
  ACCESS_COOKIE,
  REFRESH_COOKIE,
  type TokenPair,
  gatewayUrl,
  isTokenPair,
  renew,
  secondsLeft,
  secureCookies,
} from "@/lib/server/session";
import { UpstreamUnreachable, clientAddress, fetchUpstream, socketPeer, trustedProxyCount } from "@/lib/server/upstream";

export const dynamic = "force-dynamic";

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
// Answers that carry a token pair: the pair becomes cookies and the page sees only the tenant.
const ISSUERS = new Set([
  "/api/v1/auth/login/",
  "/api/v1/auth/register/",
  "/api/v1/auth/switch-tenant/",
  "/api/v1/auth/password/change/",
  "/api/v1/auth/invitations/accept/",
]);
const PASS_REQUEST_HEADERS = ["content-type", "accept", "accept-language", "idempotency-key", "x-request-id"];
const PASS_RESPONSE_HEADERS = ["content-type", "content-disposition", "retry-after", "x-request-id", "location"];

function sameOrigin(req: NextRequest): boolean {
  // Cookies are SameSite; this also refuses a cross-site form or script posting with them.
  const site = req.headers.get("sec-fetch-site");
  if (site && site !== "same-origin" && site !== "none") return false;
  const origin = req.headers.get("origin");
  if (!origin) return true;
  const host = req.headers.get("x-forwarded-host") || req.headers.get("host");
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

function setSession(response: NextResponse, pair: Pick<TokenPair, "access" | "refresh">) {
  const base = { httpOnly: true, sameSite: "lax" as const, secure: secureCookies(), path: "/" };
  response.cookies.set(ACCESS_COOKIE, pair.access, { ...base, maxAge: Math.max(1, secondsLeft(pair.access)) });
  response.cookies.set(REFRESH_COOKIE, pair.refresh, {
    ...base,
    sameSite: "strict",
    path: "/api/",
    maxAge: Math.max(1, secondsLeft(pair.refresh)),
  });
}

function endSession(response: NextResponse) {
  response.cookies.set(ACCESS_COOKIE, "", { path: "/", maxAge: 0 });
  response.cookies.set(REFRESH_COOKIE, "", { path: "/api/", maxAge: 0 });
}

function detail(status: number, message: string) {
  return NextResponse.json({ detail: message }, { status });
}

/** The person's address (from this server's socket peer, never from what the browser wrote) and user agent:
 * the gateway trusts the address from one proxy (TRUSTED_PROXY_COUNT) and records both in the audit log. */
function personHeaders(req: NextRequest, headers: Headers) {
  const client = clientAddress(req.headers.get("x-forwarded-for"), socketPeer(req.headers), trustedProxyCount());
  if (client) headers.set("x-forwarded-for", client);
  const agent = req.headers.get("user-agent");
  if (agent) headers.set("user-agent", agent);
}

async function forward(req: NextRequest, body: ArrayBuffer | undefined, access: string | undefined) {
  const headers = new Headers();
  for (const name of PASS_REQUEST_HEADERS) {
    const value = req.headers.get(name);
    if (value) headers.set(name, value);
  }
  if (access) headers.set("authorization", `Bearer ${access}`);
  personHeaders(req, headers);
  return fetchUpstream(`${gatewayUrl()}${req.nextUrl.pathname}${req.nextUrl.search}`, {
    method: req.method,
    headers,
    body,
    redirect: "manual",
    cache: "no-store",
  });
}

function relay(upstream: Response, payload: BodyInit | null, overrides?: Record<string, string>) {
  const headers = new Headers();
  for (const name of PASS_RESPONSE_HEADERS) {
    const value = upstream.headers.get(name);
    if (value) headers.set(name, value);
  }
  for (const [name, value] of Object.entries(overrides ?? {})) headers.set(name, value);
  headers.set("cache-control", "no-store");
  return new NextResponse(payload, { status: upstream.status, headers });
}

async function handle(req: NextRequest): Promise<NextResponse> {
  const path = req.nextUrl.pathname;
  if (!SAFE.has(req.method) && !sameOrigin(req)) return detail(403, "Cross-site request refused.");
  const body = SAFE.has(req.method) ? undefined : await req.arrayBuffer();
  const refresh = req.cookies.get(REFRESH_COOKIE)?.value;
  let access = req.cookies.get(ACCESS_COOKIE)?.value;

  try {
    if ((path === "/api/v1/auth/refresh/" || path === "/api/v1/auth/logout/") && req.method !== "POST") {
      // a cross-site link or image must not end (or renew) the session: POST, same origin, only
      return NextResponse.json({ detail: "Use POST." }, { status: 405, headers: { allow: "POST" } });
    }
    if (path === "/api/v1/auth/refresh/") {
      const pair = refresh ? await renew(refresh) : null;
      if (!pair) {
        const response = detail(401, "The session has ended. Please log in again.");
        endSession(response);
        return response;
      }
      const response = NextResponse.json({ renewed: true });
      setSession(response, pair);
      return response;
    }

    if (path === "/api/v1/auth/logout/") {
      if (refresh) {
        const headers = new Headers({ "content-type": "application/json" });
        personHeaders(req, headers);
        await fetch(`${gatewayUrl()}${path}`, {
          method: "POST",
          headers,
          body: JSON.stringify({ refresh }),
          cache: "no-store",
        }).catch(() => undefined);
      }
      const response = new NextResponse(null, { status: 204 });
      endSession(response);
      return response;
    }

    // An expired access token is renewed before the request rather than after a 401.
    let renewed: TokenPair | null = null;
    if (refresh && secondsLeft(access) < 5) {
      renewed = await renew(refresh);
      access = renewed?.access;
    }
    let upstream = await forward(req, body, access);
    if (upstream.status === 401 && refresh && !renewed && !ISSUERS.has(path)) {
      renewed = await renew(refresh);
      if (renewed) upstream = await forward(req, body, renewed.access);
    }

    if (ISSUERS.has(path) && upstream.ok) {
      const answer = await upstream.json().catch(() => null);
      if (isTokenPair(answer)) {
        const response = NextResponse.json({ tenant: answer.tenant }, { status: upstream.status });
        setSession(response, answer);
        return response;
      }
      return relay(upstream, JSON.stringify(answer));
    }

    const response = relay(upstream, upstream.status === 204 ? null : await upstream.arrayBuffer());
    if (renewed) setSession(response, renewed);
    else if (upstream.status === 401 && (refresh || access)) endSession(response);
    return response;
  } catch (error) {
    if (error instanceof UpstreamUnreachable) return detail(502, error.message);
    return detail(502, "The BizOSaaS API cannot be reached right now. Please try again in a moment.");
  }
}

export const GET = handle;
export const POST = handle;
export const PUT = handle;
export const PATCH = handle;
export const DELETE = handle;
export const HEAD = handle;
export const OPTIONS = handle;
