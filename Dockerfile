# syntax=docker/dockerfile:1
# deletegate as a container: `deletegate --http` on 0.0.0.0:8808, which refuses to start without http.tokens,
# with its config mounted at /config and its SQLite store and audit log on the volume /data (docs/container.md).
# Build: docker build -t deletegate:0.1.0 .
# The Node major must match the one CI tests (package.json engines: >=20.18); both stages use the same release.
ARG NODE_VERSION=20.20.2

# Build stage: the full Debian image brings python3, make and g++ in case better-sqlite3 must compile.
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the project's own `prepare` (a build) needs src/, copied below; the addon is built after.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
  && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm rebuild better-sqlite3 \
  && rm -rf node_modules/better-sqlite3/deps node_modules/better-sqlite3/src node_modules/better-sqlite3/build/Release/obj*

# Runtime stage: the same Node on slim Debian; code owned by root and read-only to the server's user.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /config /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8808
# A static console asset: answered without a session or a token, and never logged.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8808/console/assets/console.css').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["--http", "--host", "0.0.0.0", "--port", "8808", "--config", "/config/deletegate.config.json"]
