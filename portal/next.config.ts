import type { NextConfig } from "next";

const config: NextConfig = {
  output: "standalone",
  reactStrictMode: true,
  // The gateway's URLs end in a slash; the proxy forwards them as they are.
  skipTrailingSlashRedirect: true,
  poweredByHeader: false,
};

export default config;
