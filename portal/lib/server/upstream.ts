// The proxy's side of talking to the gateway: who the person is (their address and user agent, so that the
// gateway's throttles and audit log see them and not this server), and one retry of idempotent requests whose
// connection failed (a keep-alive connection the gateway closed just as it was reused fails before the request
// is read).

/** Set by scripts/start.mjs from the socket of each incoming connection, replacing anything a browser sent. */
export const PEER_HEADER = "x-bizosaas-peer";

function normalise(address: string): string {
  const value = address.trim();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(value);
  return mapped ? mapped[1] : value;
}

/** The person's address: the socket peer, or with `trusted` proxies in front of the portal (a TLS terminator),
 * the entry the outermost of them appended to X-Forwarded-For. Null when the peer is unknown (not started by
 * start.mjs): then nothing is claimed and the gateway counts this server's own address. */
export function clientAddress(forwarded: string | null, peer: string | null, trusted = 0): string | null {
  if (!peer) return null;
  if (trusted <= 0) return normalise(peer);
  const entries = (forwarded || "")
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
  if (entries.length === 0) return normalise(peer);
  return normalise(entries[entries.length - Math.min(trusted, entries.length)]);
}

/** The socket peer as scripts/peer.mjs recorded it; null when that module is not loaded (then a header of that
 * name came from the browser and means nothing). */
export function socketPeer(headers: Headers): string | null {
  return process.env.BIZOSAAS_PEER_HEADER === "1" ? headers.get(PEER_HEADER) : null;
}

export function trustedProxyCount(): number {
  const value = Number.parseInt(process.env.PORTAL_TRUSTED_PROXY_COUNT || "0", 10);
  return Number.isFinite(value) && value > 0 ? value : 0;
}

export const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS"]);

export class UpstreamUnreachable extends Error {
  constructor(
    readonly idempotent: boolean,
    readonly attempts: number,
  ) {
    super(
      idempotent
        ? `The BizOSaaS API could not be reached (${attempts} attempts). Please try again in a moment.`
        : "The connection to the BizOSaaS API failed, so it is not known whether your change was saved. " +
            "Reload the page to check before trying again.",
    );
  }
}

/** fetch, once more after a connection failure when the method is idempotent; an HTTP answer of any status is
 * an answer and is never retried here. */
export async function fetchUpstream(
  url: string,
  init: RequestInit & { method: string },
  fetchImpl: typeof fetch = fetch,
): Promise<Response> {
  const idempotent = IDEMPOTENT.has(init.method.toUpperCase());
  const attempts = idempotent ? 2 : 1;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetchImpl(url, init);
    } catch {
      if (attempt >= attempts) throw new UpstreamUnreachable(idempotent, attempt);
    }
  }
}
