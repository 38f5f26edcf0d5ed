#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * vrouter-ebpfd: loads or adopts the pinned XDP datapath, serves the gRPC
 * API and /metrics. SIGTERM / SIGINT stop the daemon and leave the datapath
 * forwarding (programs, maps and links stay pinned). SIGHUP re-reads the
 * config file and applies what can change while running.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { Server } from 'node:http';
import type { ServerCredentials } from '@grpc/grpc-js';
import { DAEMON_NODE_FLAGS, parseConfig, usage, PACKAGE_ROOT, type Config } from './config.ts';
import { prettyStream, rootLogger } from './log.ts';
import type { Logger } from 'pino';
import { setLibbpfSink } from './bpf/libbpf-log.ts';
import { openDatapath, destroyDatapath, DatapathLayoutError } from './maps/pinned-datapath.ts';
import { DatapathManager } from './manager/datapath-manager.ts';
import { kernelOf } from './maps/kernel.ts';
import { VR_COMP_BLOCK } from './maps/layout.ts';
import { MemoryReclaimer } from './memory.ts';
import { RouteProbe } from './maps/tables/route-probe.ts';
import { PacketTracer } from './maps/tables/packet-tracer.ts';
import { ApiServer } from './api/server.ts';
import { DatapathMetrics, serveMetrics } from './metrics/registry.ts';
import { ConfigTable } from './maps/tables/config-table.ts';
import { trapMask } from './maps/trap-reasons.ts';
import { PacketIo } from './packets/packet-io.ts';
import { FlowHub } from './flows/flow-hub.ts';
import { KernelEvents } from './netlink/kernel-events.ts';
import { RtnetlinkReader } from './bpf/rtnetlink-reader.ts';
import { BatchInjector } from './maps/tables/batch-injector.ts';
import { sdNotify } from './sd-notify.ts';
import { serverCredentials } from './api/tls.ts';
import { applyReload, type LiveTargets } from './config-reload.ts';

const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * optional: a part the daemon can run without (a companion program of the
 * object's): opened by `open`, or undefined with a warning that says what is
 * lost (`lost`, with `ctx` in the log line).
 */
function optional<T>(log: Logger, lost: string, ctx: Record<string, unknown>, open: () => T | undefined): T | undefined {
  try {
    return open();
  } catch (err) {
    log.warn({ err, ...ctx }, lost);
    return undefined;
  }
}

/** notifySystemd: tells systemd (Type=notify) the daemon's state; a failed send is logged, never fatal. */
function notifySystemd(log: Logger, state: Record<string, string>): void {
  try {
    if (sdNotify(state)) log.debug({ state }, 'systemd notified');
  } catch (err) {
    log.warn({ err, socket: process.env.NOTIFY_SOCKET }, 'could not notify systemd on NOTIFY_SOCKET');
  }
}

/** ensureBpffs: mounts bpffs on /sys/fs/bpf when it is not there. */
function ensureBpffs(root: string): void {
  if (!root.startsWith('/sys/fs/bpf')) return;
  const mounted = readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === '/sys/fs/bpf' && l.split(' ')[2] === 'bpf');
  if (!mounted) execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
  mkdirSync(root, { recursive: true });
}

/**
 * reloader: the SIGHUP handler. It parses flags, env and file again (flags
 * and env still win), applies the live options through `targets` once the
 * daemon has them (a SIGHUP before that is logged and ignored), and logs
 * what changed, what needs a restart, and a file it refuses (the daemon
 * keeps running with what it had).
 */
function reloader(log: Logger, start: Config): { setTargets(t: LiveTargets): void } {
  let current = start;
  let targets: LiveTargets | undefined;
  process.on('SIGHUP', () => {
    if (!targets) return log.warn('SIGHUP before the daemon is ready: ignored');
    if (!current.configFile) return log.info('SIGHUP: no config file (--config, VROUTER_EBPFD_CONFIG): nothing to reload');
    let next: Config;
    try {
      next = parseConfig(process.argv.slice(2));
    } catch (err) {
      return log.error({ file: current.configFile, reason: (err as Error).message }, `config not reloaded: ${(err as Error).message}`);
    }
    try {
      const r = applyReload(current, next, targets);
      current = r.config;
      const restart = Object.keys(r.needsRestart);
      if (Object.keys(r.applied).length) log.info({ file: current.configFile, changed: r.applied }, `config reloaded: changed ${Object.keys(r.applied).join(', ')}`);
      else log.info({ file: current.configFile }, 'config reloaded: nothing to change');
      if (restart.length) log.warn({ file: current.configFile, needsRestart: r.needsRestart }, `config keys not applied, each needs a restart: ${restart.join(', ')}`);
      if (next.shadowed.length) log.info({ shadowed: next.shadowed }, 'config file keys overridden by flags or VROUTER_EBPFD_* variables');
    } catch (err) {
      log.error({ err }, 'config reload failed part way');
    }
  });
  return { setTargets: (t) => (targets = t) };
}

async function run(cfg: Config, tcpCredentials: ServerCredentials | undefined): Promise<void> {
  const log = rootLogger(cfg.logLevel, cfg.logPretty ? await prettyStream() : undefined);
  const reload = reloader(log, cfg);
  const startedAt = Date.now();
  if (cfg.configFile) log.info({ file: cfg.configFile, shadowed: cfg.shadowed.length ? cfg.shadowed : undefined }, 'config file read');
  if (cfg.grpcTcp && cfg.grpcTcpInsecurePlaintext)
    log.warn({ address: cfg.grpcTcp }, 'grpc-tcp-insecure-plaintext: the gRPC API is served on TCP WITHOUT TLS OR AUTHENTICATION: whoever reaches the port programs the datapath');
  const missing = DAEMON_NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
  if (missing.length) log.warn({ missing }, 'node runs the daemon without its flags: memory after bulk writes stays higher');
  const libbpfLog = log.child({ component: 'libbpf' });
  setLibbpfSink((level, message) => libbpfLog[level](message.trimEnd()));
  ensureBpffs(cfg.bpffsRoot);

  if (cfg.destroy) {
    destroyDatapath(cfg.bpffsRoot, cfg.instance);
    log.info({ instance: cfg.instance }, 'pinned datapath removed (links detached)');
    return;
  }
  if (!existsSync(cfg.objectPath)) throw new Error(`BPF object ${cfg.objectPath} not found: run "npm run build" first`);

  const dp = openDatapath({
    bpffsRoot: cfg.bpffsRoot,
    instance: cfg.instance,
    objectPath: cfg.objectPath,
    sizes: { maxInterfaces: cfg.maxInterfaces, maxNextHops: cfg.maxNextHops, maxRoutes: cfg.maxRoutes, maxFlows: cfg.maxFlows, maxLabels: cfg.maxLabels, maxVnis: cfg.maxVnis, maxBridge: cfg.maxBridge, maxComposites: cfg.maxComposites },
  });
  // an adopted datapath keeps the sizes it was loaded with
  const pinned = {
    maxInterfaces: dp.maps.vr_vifs.maxEntries, maxNextHops: dp.maps.vr_nexthops.maxEntries, maxRoutes: dp.maps.vr_rt4.maxEntries, maxFlows: dp.maps.vr_flows.maxEntries,
    maxLabels: dp.maps.vr_mpls.maxEntries, maxVnis: dp.maps.vr_vxlan.maxEntries, maxBridge: dp.maps.vr_bridge.maxEntries, maxComposites: dp.maps.vr_comp.maxEntries / VR_COMP_BLOCK,
  };
  if (dp.adopted && (Object.keys(pinned) as (keyof typeof pinned)[]).some((k) => pinned[k] !== cfg[k]))
    log.warn({ pinned }, 'adopted datapath keeps the table sizes it was loaded with; new sizes need --destroy and a reload');
  // the bulk route lookup: the object's probe program on the pinned maps (none: a lookup per key)
  const probe = optional(log, 'route probe not loaded: route batches are checked one lookup at a time', {}, () => {
    const p = RouteProbe.open(cfg.objectPath, dp.maps);
    if (!p) log.warn({ object: cfg.objectPath }, 'the BPF object has no vr_rt_probe: route batches are checked one lookup at a time');
    return p;
  });
  // TracePacket: the trace build of the datapath (vr_trace.o beside the object) on the pinned maps
  const traceObject = join(dirname(cfg.objectPath), 'vr_trace.o');
  const tracer = optional(log, 'packet tracer not loaded: TracePacket answers FAILED_PRECONDITION', { object: traceObject }, () =>
    PacketTracer.open(traceObject, dp.maps),
  );
  const mgr = new DatapathManager(kernelOf(dp, probe, tracer), { maxVrfs: cfg.maxVrfs }, log.child({ component: 'manager' }));
  const reclaimer = new MemoryReclaimer(log.child({ component: 'memory' }));
  mgr.onBulk = () => reclaimer.bulkDone();
  const loaded = mgr.load();

  // the run-time config, on a loaded and an adopted datapath alike: this daemon's flags win
  new ConfigTable(dp.maps.vr_config).write({ holdPerFlow: cfg.holdPerFlow, trapMask: trapMask(cfg.trap) });
  const packetLog = log.child({ component: 'packets' });
  const packets = PacketIo.open(dp, mgr.vifs, (err) => packetLog.error({ err }, 'trap ring reader failed: WatchPackets streams end'));
  log.info({ trap: cfg.trap, holdPerFlow: cfg.holdPerFlow }, 'trap rules set');

  // flow misses: the miss ring's reader, the hold queue, re-injection, aging (on this thread: its live
  // runs resolve interfaces in the daemon's namespace)
  // held frames go back in batches through vr_reinject.o (beside the object), else one live run each
  const reinjectObject = join(dirname(cfg.objectPath), 'vr_reinject.o');
  const batch = optional(log, 'batch re-injection not loaded: held frames are re-injected one run each', { object: reinjectObject }, () => {
    const b = BatchInjector.open(reinjectObject, dp.maps);
    const ms = b.probeRunMs();
    if (ms <= 5) return b;
    log.warn({ runMs: ms }, 'batch re-injection is slow here (its program is not kept in the XDP dispatcher): held frames are re-injected one run each');
    b.close();
    return undefined;
  });
  const flows = FlowHub.open({
    dir: dp.dir,
    flows: dp.maps.vr_flows,
    log: log.child({ component: 'flows' }),
    injector: dp.xdp,
    batch,
    options: {
      hold: { timeoutMs: cfg.holdTimeoutMs, maxFrames: cfg.holdQueueMax },
      aging: {
        tcpMs: cfg.flowIdleMs.tcp, udpMs: cfg.flowIdleMs.udp, icmpMs: cfg.flowIdleMs.icmp, otherMs: cfg.flowIdleMs.other,
        holdMs: cfg.holdTimeoutMs,
      },
    },
  });
  mgr.extraDrops = () => flows.daemonDrops();

  // rtnetlink: opened on this thread, in the daemon's namespace; read on a worker
  const kernelLog = log.child({ component: 'netlink' });
  const kernel = new KernelEvents(mgr, kernelLog);
  kernel.attach(RtnetlinkReader.open({
    onEvents: (msgs) => kernel.handle(msgs),
    onError: (err) => kernelLog.error({ err }, 'rtnetlink reader failed: kernel events are no longer followed'),
  }));
  const registry = cfg.metricsAddress ? new DatapathMetrics(mgr, dp.adopted, { packets, flows, kernel }) : undefined;
  const api = new ApiServer(
    mgr, { version: VERSION, instance: cfg.instance, startedAt, dp, syncOrphanTimeoutMs: cfg.syncOrphanTimeoutMs }, log.child({ component: 'api' }),
    { packets, flows, calls: registry?.grpc, kernel },
  );
  let metrics: Server | undefined;
  // metrics first: a daemon that cannot open them never answers on its API socket. A failure
  // exits the process; the ring readers' threads let it (their epoll_wait is bounded)
  if (registry) metrics = await serveMetrics(registry, cfg.metricsAddress, log.child({ component: 'metrics' }));
  await api.listen({ socketPath: cfg.socketPath, socketMode: cfg.socketMode, socketGid: cfg.socketGid, tcp: cfg.grpcTcp, tcpCredentials });
  if (dp.upgrade) log.info({ upgrade: dp.upgrade }, `pinned datapath upgraded: ${dp.upgrade.kind}`);
  log.info({ instance: cfg.instance, dir: dp.dir, adopted: dp.adopted, version: VERSION }, 'vrouter-ebpfd ready');
  // ready once the API answers (Type=notify units start their dependants now)
  notifySystemd(log, { READY: '1', STATUS: `serving on ${cfg.socketPath}`, MAINPID: String(process.pid) });
  await loaded;
  const configTable = new ConfigTable(dp.maps.vr_config);
  reload.setTargets({
    logLevel: (level) => (log.level = level), // pino's children follow their parent's level
    trap: (rules) => packets.setTrapRules(rules),
    holdPerFlow: (n) => configTable.write({ ...configTable.read(), holdPerFlow: n }),
    timeouts: (t) => flows.setTimeouts(t),
  });

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping; the datapath keeps forwarding');
      notifySystemd(log, { STOPPING: '1' });
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await api.stop();
  metrics?.close();
  await packets.close();
  await flows.close();
  await kernel.close();
  batch?.close();
  reclaimer.stop();
  probe?.close();
  dp.close();
}

let cfg: Config;
let tcpCredentials: ServerCredentials | undefined;
try {
  cfg = parseConfig(process.argv.slice(2));
  // the TLS files are read now: a bad one refuses the start before the datapath is touched
  if (cfg.grpcTcp && !cfg.grpcTcpInsecurePlaintext && !cfg.help && !cfg.version && !cfg.destroy) tcpCredentials = serverCredentials(cfg);
} catch (err) {
  process.stderr.write(`vrouter-ebpfd: ${(err as Error).message}\nTry 'vrouter-ebpfd --help'.\n`);
  process.exit(2);
}
if (cfg.help) {
  process.stdout.write(`${usage()}\n`);
  process.exit(0);
}
if (cfg.version) {
  process.stdout.write(`vrouter-ebpfd ${VERSION}\n`);
  process.exit(0);
}
run(cfg, tcpCredentials).catch((err: unknown) => {
  const log = rootLogger('info');
  if (err instanceof DatapathLayoutError) log.fatal({ err }, 'refusing the pinned datapath');
  else log.fatal({ err }, 'vrouter-ebpfd failed');
  // a listener already open (gRPC, metrics) would keep a half-started daemon alive
  process.exit(1);
});
