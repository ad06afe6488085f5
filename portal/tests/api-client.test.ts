import { describe, expect, it, vi } from "vitest";

import { DATA_CHANGED, READ_ONLY, makeClient, unwrap } from "@/lib/api/client";
import { ApiError, flattenErrors } from "@/lib/api/errors";
import { renew, secondsLeft } from "@/lib/server/session";

function jwt(exp: number) {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "HS256" })}.${part({ exp })}.signature`;
}

describe("API errors", () => {
  it("flattens nested DRF errors to dotted paths", () => {
    const fields = flattenErrors({
      name: ["This field is required."],
      grants: [{}, { actions: ["Unknown action: fly."] }],
      "conditions.0.path": ["Bad path."],
    });
    expect(fields).toEqual({
      name: ["This field is required."],
      "grants.1.actions": ["Unknown action: fly."],
      "conditions.0.path": ["Bad path."],
    });
  });

  it("uses the detail message and lists messages under a field", () => {
    const error = new ApiError(400, { trigger: { pattern: ["Too wide."] }, detail: "Invalid rule." });
    expect(error.message).toBe("Invalid rule.");
    expect(error.forField("trigger")).toEqual([]);
    expect(error.forField("trigger", true)).toEqual(["Too wide."]);
  });

  it("shows a quota refusal by its detail alone, without taking its figures for field errors", () => {
    const error = new ApiError(403, {
      detail: "Connections quota reached: 1 of 1 connections used.",
      code: "quota_exceeded",
      limit: "connections",
      limit_value: 1,
      usage: 1,
      retry_after: null,
    });
    expect(error.message).toBe("Connections quota reached: 1 of 1 connections used.");
    expect(error.fields).toEqual({});
  });

  it("says what a status means when the body has no message", () => {
    expect(new ApiError(403, null).message).toMatch(/role does not allow/);
    expect(new ApiError(400, { email: ["Enter a valid email."] }).message).toMatch(/highlighted fields/);
    expect(new ApiError(0, null).message).toMatch(/cannot reach/);
  });
});

describe("typed client", () => {
  it("returns the data of a 2xx answer and sends JSON to the schema's path", async () => {
    const seen: Request[] = [];
    const fetchImpl = vi.fn(async (input: Request) => {
      seen.push(input);
      return new Response(JSON.stringify({ tenant: "acme" }), { status: 200, headers: { "content-type": "application/json" } });
    });
    const client = makeClient("http://portal.test", fetchImpl as unknown as typeof fetch);
    const data = await unwrap(client.POST("/api/v1/auth/login/", { body: { email: "a@b.co", password: "pw" } }));
    expect(data).toEqual({ tenant: "acme" });
    expect(seen[0].url).toBe("http://portal.test/api/v1/auth/login/");
    expect(await seen[0].json()).toEqual({ email: "a@b.co", password: "pw" });
  });

  it("turns a 400 into an ApiError with field errors", async () => {
    const fetchImpl = async () =>
      new Response(JSON.stringify({ email: ["Enter a valid email."] }), { status: 400, headers: { "content-type": "application/json" } });
    const client = makeClient("http://portal.test", fetchImpl as unknown as typeof fetch);
    const failure = unwrap(client.POST("/api/v1/auth/password/reset/", { body: { email: "nope" } }));
    await expect(failure).rejects.toBeInstanceOf(ApiError);
    await failure.catch((error: ApiError) => {
      expect(error.status).toBe(400);
      expect(error.forField("email")).toEqual(["Enter a valid email."]);
    });
  });

  it("turns a network failure into status 0", async () => {
    const client = makeClient("http://portal.test", (async () => {
      throw new TypeError("fetch failed");
    }) as unknown as typeof fetch);
    await expect(unwrap(client.GET("/api/v1/auth/me/"))).rejects.toMatchObject({ status: 0 });
  });
});

describe("writes tell the page its data changed", () => {
  it("fires after a successful write, not after a read, a read-only POST or a refused write", async () => {
    let status = 200;
    const fetchImpl = async () => new Response(JSON.stringify({}), { status, headers: { "content-type": "application/json" } });
    const client = makeClient("http://portal.test", fetchImpl as unknown as typeof fetch);
    const fired = vi.fn();
    window.addEventListener(DATA_CHANGED, fired);
    try {
      await client.GET("/api/v1/auth/me/");
      await client.POST("/api/v1/workflows/configs/preview-schedule/", { ...READ_ONLY, body: { schedule_cron: "0 9 * * *" } });
      expect(fired).not.toHaveBeenCalled();
      status = 400;
      await client.POST("/api/v1/rules/", { body: { name: "x", trigger_event: "a.b", actions: [] } });
      expect(fired).not.toHaveBeenCalled();
      status = 201;
      await client.POST("/api/v1/rules/", { body: { name: "x", trigger_event: "a.b", actions: [] } });
      expect(fired).toHaveBeenCalledTimes(1);
    } finally {
      window.removeEventListener(DATA_CHANGED, fired);
    }
  });
});

describe("session renewal", () => {
  it("reads how long a token lives", () => {
    const now = Date.UTC(2026, 0, 1);
    expect(secondsLeft(jwt(now / 1000 + 90), now)).toBe(90);
    expect(secondsLeft(jwt(now / 1000 - 5), now)).toBe(0);
    expect(secondsLeft("garbage", now)).toBe(0);
    expect(secondsLeft(undefined, now)).toBe(0);
  });

  it("shares one renewal between requests presenting the same refresh token", async () => {
    let calls = 0;
    const fetchImpl = vi.fn(async () => {
      calls += 1;
      return new Response(JSON.stringify({ access: `access-${calls}`, refresh: `refresh-${calls}` }), { status: 200 });
    });
    const token = `refresh-${Math.random()}`;
    const [a, b] = await Promise.all([
      renew(token, fetchImpl as unknown as typeof fetch),
      renew(token, fetchImpl as unknown as typeof fetch),
    ]);
    const later = await renew(token, fetchImpl as unknown as typeof fetch);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    expect(a).toEqual(b);
    expect(later?.access).toBe("access-1");
  });

  it("ends the session when the gateway refuses the refresh token", async () => {
    const fetchImpl = async () => new Response(JSON.stringify({ detail: "Token is blacklisted" }), { status: 401 });
    expect(await renew(`used-${Math.random()}`, fetchImpl as unknown as typeof fetch)).toBeNull();
  });
});
