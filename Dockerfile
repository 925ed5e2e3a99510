# Runtime image for the SBC. Build: docker build -t sbc .
# Run:   docker run --network host -v $PWD/config:/etc/sbc sbc start --config /etc/sbc/pbx-to-itsp.ini
# The process runs as the unprivileged user `node` (uid 1000). SIP and media ports
# above 1024 (5060, 5080, the media realms) need no privilege; to bind a port below
# 1024 add `--cap-add NET_BIND_SERVICE` and give the binary the capability, or map
# the port (-p 5060:15060). Files the config names (certificates, CDR path) must be
# readable (and the CDR directory writable) by uid 1000. See docs/security.md.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY native ./native
# postinstall builds the native media addon (needs python3, make, g++: present in this image)
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY bench ./bench
# The web console (docs/console.md): built into dist/console with Preact and htm from the dev dependencies.
COPY console ./console
COPY scripts/build-console.mjs ./scripts/
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/native/build/Release ./native/build/Release
COPY package.json ./
# The configuration history and backups live beside the ini (ConfigHistoryDirectory / ConfigBackupDirectory):
# the directory belongs to the user the SBC runs as.
COPY --chown=node:node config ./config
EXPOSE 5060/udp 5060/tcp 5080/udp 5080/tcp
USER node
# The REST API answers /api/v1/health without credentials to loopback clients only,
# which is where this check runs. SBC_API_PORT must match SbcApiPort of the config.
ENV SBC_API_PORT=8088
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.SBC_API_PORT+'/api/v1/health',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["start", "--config", "config/pbx-to-itsp.ini"]
