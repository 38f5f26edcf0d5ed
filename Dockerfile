# vrouter-ebpfd, the datapath daemon, and vrctl. Two stages: the build one
# compiles the BPF objects and generates the protobuf code with the same
# Debian packages and npm commands as scripts/setup.sh (test/deploy/
# dockerfile.test.ts keeps them the same, so CI exercises them); the runtime
# one is Node 24 slim with libbpf, the objects and the TypeScript sources
# (Node 24 runs them as they are).
#
# Run it in the host's network namespace with bpffs and the socket directory
# from the host, and these capabilities (what each call needs: README,
# "Deployment"; run for real in test/e2e/capabilities.test.ts):
#   CAP_BPF        bpf(): maps, programs, pins, BPF_PROG_TEST_RUN
#   CAP_NET_ADMIN  loading XDP / TC programs, attaching them (XDP, tcx links), netlink
#   CAP_PERFMON    the verifier's pointer arithmetic on packet data (refused without it)
#   CAP_NET_RAW    the AF_PACKET socket that sends the agent's packets
#   CAP_SYS_ADMIN  optional: batch re-injection (unshare / setns) and mounting a missing bpffs
#
#   docker build -t vrouter-ebpfd .
#   docker run -d --name vrouter-ebpfd --network host \
#     --cap-drop ALL --cap-add BPF --cap-add NET_ADMIN --cap-add PERFMON --cap-add NET_RAW --cap-add SYS_ADMIN \
#     -v /sys/fs/bpf:/sys/fs/bpf -v /run/vrouter-ebpf:/run/vrouter-ebpf vrouter-ebpfd
#   docker exec vrouter-ebpfd vrctl vif list
# (an engine whose default seccomp profile predates CAP_BPF allows bpf() only
# with CAP_SYS_ADMIN: keep it, or give the container its own profile)

FROM node:24-bookworm-slim AS build
# scripts/setup.sh BPF_BUILD_PACKAGES
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang llvm libbpf-dev make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY buf.yaml buf.gen.yaml tsconfig.json ./
COPY proto proto
COPY bpf bpf
COPY src src
# the objects and src/gen; then the dev tools (buf, typescript, the node package) go
RUN npm run -s build \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM node:24-bookworm-slim
# libbpf1: the daemon's kernel boundary loads libbpf.so.1 (src/bpf/libbpf.ts)
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libbpf1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/src src
# the datapath, and the two objects the daemon opens beside it (TracePacket, batch re-injection)
COPY --from=build /app/bpf/build/vr_xdp.o /app/bpf/build/vr_trace.o /app/bpf/build/vr_reinject.o bpf/build/
# the package's bins on PATH (their shebangs run this image's Node 24)
RUN ln -s /app/src/cli/vrctl.ts /usr/local/bin/vrctl \
 && ln -s /app/src/main.ts /usr/local/bin/vrouter-ebpfd \
 && chmod 0755 /app/src/cli/vrctl.ts /app/src/main.ts
# Prometheus /metrics
EXPOSE 9478
# gRPC health over the unix socket (the default one, or $VROUTER_EBPFD_SOCKET / _INSTANCE)
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["vrctl", "--timeout", "5000", "health"]
# the daemon leaves the datapath forwarding when it stops: SIGTERM is safe
STOPSIGNAL SIGTERM
# node's flags: src/config.ts DAEMON_NODE_FLAGS; the daemon's: vrouter-ebpfd --help
ENTRYPOINT ["node", "--max-semi-space-size=8", "src/main.ts"]
CMD ["--metrics", "0.0.0.0:9478"]
