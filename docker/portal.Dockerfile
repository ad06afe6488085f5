# syntax=docker/dockerfile:1
# The client portal (Next.js standalone output). Build from the repository root:
#   docker build -f docker/portal.Dockerfile -t bizosaas-portal .
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /portal
COPY portal/package.json portal/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM ${NODE_IMAGE} AS build
WORKDIR /portal
ENV NEXT_TELEMETRY_DISABLED=1
COPY --from=deps /portal/node_modules ./node_modules
COPY portal/ ./
RUN mkdir -p public && npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 PORT=3000 HOSTNAME=0.0.0.0
WORKDIR /app
# the `node` user (uid 1000) of the base image runs the server
COPY --from=build --chown=node:node /portal/.next/standalone ./
COPY --from=build --chown=node:node /portal/.next/static ./.next/static
COPY --from=build --chown=node:node /portal/public ./public
COPY --from=build --chown=node:node /portal/scripts/peer.mjs ./peer.mjs
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD node -e "fetch('http://127.0.0.1:3000/').then(r => process.exit(r.status < 500 ? 0 : 1)).catch(() => process.exit(1))"
# peer.mjs: the API proxy forwards the person's socket address to the gateway (portal/scripts/peer.mjs)
CMD ["node", "--import", "./peer.mjs", "server.js"]
