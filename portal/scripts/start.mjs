// Starts the standalone server of the last build (see standalone.mjs) on PORT (3000) and HOSTNAME (127.0.0.1).
// HOSTNAME is set here because shells export the machine's name under that variable.
import { existsSync } from "node:fs";
import http from "node:http";
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
// The API proxy tells the gateway who the person is from this header, which only this server sets: the socket
// peer of each connection, replacing whatever a browser sent under that name (lib/server/upstream.ts).
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, request, ...rest) {
  if (event === "request" && request?.headers) request.headers["x-bizosaas-peer"] = request.socket?.remoteAddress || "";
  return emit.call(this, event, request, ...rest);
};
await import(server);
