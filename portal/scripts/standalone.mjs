// `output: "standalone"` builds a self-contained server in <distDir>/standalone/ but leaves the static assets
// (and public/) out, for a CDN to serve; without a CDN the server serves them once they are copied beside it.
// `npm run build` runs this after `next build`; `npm run start` then runs that server, as Next intends.
import { cpSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";

const dist = process.env.NEXT_DIST_DIR || ".next";
const standalone = join(dist, "standalone");
if (!existsSync(join(standalone, "server.js"))) {
  console.error(`${standalone}/server.js is missing: run "next build" first.`);
  process.exit(1);
}
const target = join(standalone, dist, "static");
rmSync(target, { recursive: true, force: true });
cpSync(join(dist, "static"), target, { recursive: true });
if (existsSync("public")) cpSync("public", join(standalone, "public"), { recursive: true });
