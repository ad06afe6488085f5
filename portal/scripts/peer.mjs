// Preloaded by start.mjs (and by the container: node --import ./peer.mjs server.js). The API proxy tells the
// gateway who the person is from the x-bizosaas-peer header, which only this sets: the socket peer of each
// connection, replacing whatever a browser sent under that name (lib/server/upstream.ts). Without this module
// loaded (next dev, a bare node server.js) the proxy claims no address at all.
import http from "node:http";

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, request, ...rest) {
  if (event === "request" && request?.headers) request.headers["x-bizosaas-peer"] = request.socket?.remoteAddress || "";
  return emit.call(this, event, request, ...rest);
};
process.env.BIZOSAAS_PEER_HEADER = "1";
