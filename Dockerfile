# Runtime image for the SBC. Build: docker build -t sbc .
# Run:   docker run --network host -v $PWD/config:/etc/sbc sbc start --config /etc/sbc/pbx-to-itsp.ini
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY native ./native
# postinstall builds the native media addon (needs python3, make, g++: present in this image)
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/native/build/Release ./native/build/Release
COPY package.json ./
COPY config ./config
EXPOSE 5060/udp 5060/tcp 5080/udp 5080/tcp
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["start", "--config", "config/pbx-to-itsp.ini"]
