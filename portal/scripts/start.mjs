// Starts the standalone server of the last build (see standalone.mjs) on PORT (3000) and HOSTNAME (127.0.0.1).
// HOSTNAME is set here because shells export the machine's name under that variable.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const dist = process.env.NEXT_DIST_DIR || ".next";
const server = resolve(join(dist, "standalone", "server.js"));
if (!existsSync(server)) {
  console.error(`${server} is missing: run "npm run build" first.`);
  process.exit(1);
}
process.env.PORT ||= "3000";
process.env.HOSTNAME = process.env.PORTAL_HOST || "127.0.0.1";
process.env.NODE_ENV = "production";
await import("./peer.mjs");
await import(server);
