// The typed API client. Paths, parameters and bodies are checked against the gateway's OpenAPI schema
// (lib/api/schema.d.ts, generated from openapi.json by `npm run schema`).
import createClient, { type Middleware } from "openapi-fetch";

import { ApiError } from "./errors";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type { paths };

export const SESSION_ENDED = "bizosaas:session-ended";
/** Fired after every successful write: whatever the page shows may have changed. */
export const DATA_CHANGED = "bizosaas:data-changed";
const READ_HEADER = "x-portal-read";
/** Options for a POST that only reads (a preview), so that it is not taken for a write. */
export const READ_ONLY = { headers: { [READ_HEADER]: "1" } } as const;

const sessionWatch: Middleware = {
  onResponse({ request, response }) {
    // The proxy has already tried to renew the session: a 401 here means it is over.
    if (typeof window !== "undefined") {
      if (response.status === 401) window.dispatchEvent(new Event(SESSION_ENDED));
      else if (response.ok && !["GET", "HEAD"].includes(request.method) && !request.headers.has(READ_HEADER)) {
        window.dispatchEvent(new Event(DATA_CHANGED));
      }
    }
    return response;
  },
};

export function makeClient(baseUrl = "", fetchImpl?: typeof fetch) {
  const client = createClient<paths>({
    baseUrl,
    credentials: "same-origin",
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
  client.use(sessionWatch);
  return client;
}

export const api = makeClient();

type Result<T> = { data?: T; error?: unknown; response: Response };

/** The data of a response, or an ApiError with the field errors. A network failure becomes status 0. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  let result: Result<T>;
  try {
    result = await call;
  } catch {
    throw new ApiError(0, null);
  }
  if (!result.response.ok) throw new ApiError(result.response.status, result.error ?? null);
  return result.data as T;
}

/** A DRF limit/offset page. */
export type Page<T> = { count: number; next?: string | null; previous?: string | null; results: T[] };
