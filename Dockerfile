# syntax=docker/dockerfile:1
# The airlock bot: `airlock serve` (and every admin verb, through `kubectl exec`).
#
#   docker build -t registry.example.com/airlock/airlock:0.1.0 .
#
# To install from an internal npm registry, pass an .npmrc as a build secret (never a layer):
#   docker build --secret id=npmrc,src=$HOME/.npmrc -t ... .

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# better-sqlite3 downloads a prebuilt binary when it can reach GitHub and compiles otherwise:
# python3, make and g++ for node-gyp, with the Node headers the image already has (nodedir), so
# the build needs no network besides the npm registry.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's `prepare` script runs tsc, and src/ is not here yet. The one
# dependency with an install script that airlock needs at run time is better-sqlite3; it is
# built explicitly (esbuild's is for the dev tools only).
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc \
  npm ci --ignore-scripts --no-audit --no-fund \
  && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
RUN npm run build \
  && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
# git: mirrors, snapshots and the push. ca-certificates: TLS to Slack, the model, the forge and
# Jira (add your internal CA with NODE_EXTRA_CA_CERTS and GIT_SSL_CAINFO, or a derived image).
RUN apt-get update \
  && apt-get install -y --no-install-recommends git ca-certificates \
  && rm -rf /var/lib/apt/lists/*
# A numeric, non-root user (Pod Security "restricted" checks runAsNonRoot against the number).
# Its home is the data directory, the one place besides /tmp it may write.
RUN groupadd --system --gid 10001 airlock \
  && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/airlock --no-create-home \
    --shell /usr/sbin/nologin airlock \
  && mkdir -p /var/lib/airlock \
  && chown 10001:10001 /var/lib/airlock
WORKDIR /app
# The code stays owned by root: the process cannot change it.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
COPY --from=build /app/node_modules ./node_modules
ENV NODE_ENV=production AIRLOCK_DATA_DIR=/var/lib/airlock
USER 10001:10001
EXPOSE 8080
# No HEALTHCHECK: on Kubernetes the Deployment's startup, liveness and readiness probes call
# /healthz and /readyz on :8080 (the kubelet ignores a Dockerfile HEALTHCHECK).
ENTRYPOINT ["node", "/app/bin/airlock.js"]
CMD ["serve"]
