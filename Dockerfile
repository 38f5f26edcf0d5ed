# vrouter-ebpfd: the datapath daemon. Run privileged in the host network
# namespace with bpffs mounted, e.g.
#   docker run --privileged --network host -v /sys/fs/bpf:/sys/fs/bpf \
#     -v /run/vrouter-ebpf:/run/vrouter-ebpf vrouter-ebpfd
FROM node:24-bookworm-slim AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang llvm libbpf-dev linux-libc-dev libc6-dev make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY buf.yaml buf.gen.yaml tsconfig.json ./
COPY proto proto
COPY bpf bpf
COPY src src
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libbpf1 iproute2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/src src
COPY --from=build /app/bpf/build/vr_xdp.o bpf/build/vr_xdp.o
# the daemon leaves the datapath forwarding when it stops: SIGTERM is safe
STOPSIGNAL SIGTERM
# flags: src/config.ts DAEMON_NODE_FLAGS
ENTRYPOINT ["node", "--max-semi-space-size=8", "src/main.ts"]
CMD ["--grpc-tcp", "", "--metrics", "0.0.0.0:9478"]
