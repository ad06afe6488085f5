import { describe, expect, it, vi } from "vitest";

import { safeNext } from "@/lib/safeNext";
import { UpstreamUnreachable, clientAddress, fetchUpstream, socketPeer } from "@/lib/server/upstream";

describe("the login page's next", () => {
  it.each([
    "/\\evil.example",
    "/%09/evil.example",
    "/%5Cevil.example",
    "/%2F/evil.example",
    "//evil.example",
    "///evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "https://evil.example/dashboard",
    "javascript:alert(1)",
    "dashboard",
    "/%E0%A4%A",
    "",
  ])("refuses %j", (next) => {
    expect(safeNext(next)).toBe("/dashboard");
  });

  it.each([
    ["/dashboard/connectors/4", "/dashboard/connectors/4"],
    ["/dashboard/events?status=failed#top", "/dashboard/events?status=failed#top"],
    ["/dashboard/x%20y", "/dashboard/x%20y"],
  ])("keeps the same-origin path %j", (next, expected) => {
    expect(safeNext(next)).toBe(expected);
  });

  it("falls back without a next", () => {
    expect(safeNext(null)).toBe("/dashboard");
  });
});

describe("the person's address forwarded to the gateway", () => {
  it("is the socket peer, whatever the browser claims", () => {
    expect(clientAddress("203.0.113.9, 10.0.0.1", "198.51.100.4")).toBe("198.51.100.4");
    expect(clientAddress(null, "::ffff:198.51.100.4")).toBe("198.51.100.4");
  });

  it("is what trusted proxies in front of the portal appended, and only their entries", () => {
    expect(clientAddress("6.6.6.6, 198.51.100.7", "10.0.0.2", 1)).toBe("198.51.100.7");
    expect(clientAddress("", "10.0.0.2", 1)).toBe("10.0.0.2");
  });

  it("is unknown unless peer.mjs set it: a browser's header of that name means nothing", () => {
    const headers = new Headers({ "x-bizosaas-peer": "6.6.6.6" });
    const before = process.env.BIZOSAAS_PEER_HEADER;
    delete process.env.BIZOSAAS_PEER_HEADER;
    expect(socketPeer(headers)).toBeNull();
    process.env.BIZOSAAS_PEER_HEADER = "1";
    expect(socketPeer(headers)).toBe("6.6.6.6");
    if (before === undefined) delete process.env.BIZOSAAS_PEER_HEADER;
    else process.env.BIZOSAAS_PEER_HEADER = before;
  });

  it("is not claimed when the peer is unknown", () => {
    expect(clientAddress("203.0.113.9", null)).toBeNull();
  });
});

describe("requests to the gateway", () => {
  it("retries an idempotent request once after a connection failure", async () => {
    const fetchImpl = vi
      .fn()
      .mockRejectedValueOnce(new TypeError("fetch failed: other side closed"))
      .mockResolvedValueOnce(new Response("{}", { status: 200 }));

    const response = await fetchUpstream("http://gateway/api/v1/tenant/", { method: "GET" }, fetchImpl);

    expect(response.status).toBe(200);
    expect(fetchImpl).toHaveBeenCalledTimes(2);
  });

  it("says what happened when both attempts fail", async () => {
    const fetchImpl = vi.fn().mockRejectedValue(new TypeError("fetch failed"));

    const failure = await fetchUpstream("http://gateway/x", { method: "GET" }, fetchImpl).catch((e) => e);

    expect(failure).toBeInstanceOf(UpstreamUnreachable);
    expect(failure.message).toContain("2 attempts");
    expect(fetchImpl).toHaveBeenCalledTimes(2);
  });

  it("never repeats a change, and says it may or may not have been saved", async () => {
    const fetchImpl = vi.fn().mockRejectedValue(new TypeError("fetch failed"));

    const failure = await fetchUpstream("http://gateway/x", { method: "POST" }, fetchImpl).catch((e) => e);

    expect(fetchImpl).toHaveBeenCalledTimes(1);
    expect(failure.message).toContain("not known whether your change was saved");
  });

  it("does not retry an HTTP answer, even a 5xx", async () => {
    const fetchImpl = vi.fn().mockResolvedValue(new Response("", { status: 503 }));

    const response = await fetchUpstream("http://gateway/x", { method: "GET" }, fetchImpl);

    expect(response.status).toBe(503);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
  });
});
