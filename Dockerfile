# carwatch's image: `docker build -t carwatch .`, run by docker-compose.yml. Its steps are what
# test/ship/production.test.ts proves on a clean copy: npm run build, then the production dependencies
# alone run node dist/main.js (the test prunes with npm prune --omit=dev, the same tree as here).
ARG NODE_IMAGE=node:20-bookworm-slim

# better-sqlite3 compiles its native module where no prebuilt binary can be fetched.
FROM ${NODE_IMAGE} AS toolchain
# hadolint ignore=DL3008
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# The compiled build: tsc to dist/, with the prompts and web assets copied beside the modules.
FROM toolchain AS build
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY . .
RUN npm run build

# Production dependencies only.
FROM toolchain AS deps
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    DATA_DIR=/data \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The base image's unprivileged user, node (1000:1000, by number so the host can resolve it), owns the
# data folder and nothing else.
RUN mkdir -p /data && chown 1000:1000 /data
USER 1000:1000
VOLUME /data
EXPOSE 8080
# 503 when a stage this process runs is down; a process without the http role turns this off (compose's workers).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.HTTP_PORT}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
