// Where the login page sends the person afterwards: a path on this origin only. Browsers read "/\evil.example"
// as "//evil.example" and drop tabs and newlines inside URLs, so anything that is not plainly one path is refused.

const FALLBACK = "/dashboard";
const ORIGIN = "https://portal.invalid";

export function safeNext(next: string | null | undefined, fallback = FALLBACK): string {
  if (!next || !next.startsWith("/")) return fallback;
  let decoded = next;
  try {
    for (let i = 0; i < 3 && decoded.includes("%"); i++) decoded = decodeURIComponent(decoded);
  } catch {
    return fallback;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u0020\u007f]/.test(next)) return fallback; // raw: no backslash, control or space
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(decoded)) return fallback; // decoded: no backslash or control
  if (next.startsWith("//") || decoded.startsWith("//") || !decoded.startsWith("/")) return fallback;
  let url: URL;
  try {
    url = new URL(next, ORIGIN);
  } catch {
    return fallback;
  }
  if (url.origin !== ORIGIN) return fallback;
  return `${url.pathname}${url.search}${url.hash}`;
}
