import type { NextConfig } from "next";

const config: NextConfig = {
  output: "standalone",
  // A separate build folder (e.g. for parallel builds); `make` uses the default.
  distDir: process.env.NEXT_DIST_DIR || ".next",
  // The type check runs in `make lint` (tsc); this lets a build go ahead while another page is being written.
  typescript: { ignoreBuildErrors: process.env.PORTAL_SKIP_TYPECHECK === "1" },
  reactStrictMode: true,
  // The gateway's URLs end in a slash; the proxy forwards them as they are.
  skipTrailingSlashRedirect: true,
  poweredByHeader: false,
};

export default config;
