/**
 * Metrics: a private registry whose collectors read the datapath's maps at
 * scrape time, and the HTTP server for /metrics.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import type { DatapathManager } from '../manager/datapath-manager.ts';
import type { Vif } from '../manager/model.ts';
import type { VifStats } from '../maps/codecs.ts';
import type { MapName } from '../maps/layout.ts';
import type { PacketHubStats } from '../packets/packet-hub.ts';
import { packetMetrics, tunnelMetrics } from './packet-metrics.ts';
import { flowMetrics } from './flow-metrics.ts';
import type { FlowHubStats } from '../flows/hub.ts';
import { GrpcMetrics } from './grpc-metrics.ts';
import { kernelEventMetrics, type KernelEventStats } from './kernel-event-metrics.ts';

/** MetricsExtras: the daemon's layers beside the manager that have metrics */
export interface MetricsExtras {
  /** the packet interface: its watchers' losses */
  packets?: { stats(): PacketHubStats } | undefined;
  /** the flow-miss side: held and re-injected packets, watchers' losses, aging */
  flows?: { stats(): FlowHubStats } | undefined;
  /** the rtnetlink events: counts by type; with it, each vif's operational state */
  kernel?: KernelEventStats | undefined;
}

/** EVENT_LOOP_SAMPLE_MS: the interval of the event-loop lag gauges (their values include it) */
export const EVENT_LOOP_SAMPLE_MS = 5;

/**
 * DatapathMetrics: the registry, and scrape(), which reads every vif's
 * counters once for all seven vif metrics (not once per metric).
 */
export class DatapathMetrics {
  readonly registry: Registry;
  /** the API's calls (given to the ApiServer) */
  readonly grpc: GrpcMetrics;
  private vifRows: { vif: Vif; stats: VifStats }[] | undefined;
  private readonly mgr: DatapathManager;

  constructor(mgr: DatapathManager, adopted: boolean, extras: MetricsExtras = {}) {
    this.mgr = mgr;
    this.registry = datapathRegistry(mgr, adopted, () => this.vifRows ?? this.readVifs());
    packetMetrics(this.registry, mgr.kernel.maps.vr_fctr, extras.packets);
    tunnelMetrics(this.registry, mgr.kernel.maps.vr_tctr);
    if (extras.flows) flowMetrics(this.registry, extras.flows);
    if (extras.kernel) kernelEventMetrics(this.registry, extras.kernel, () => mgr.vifs.list());
    this.grpc = new GrpcMetrics(this.registry);
  }

  private readVifs(): { vif: Vif; stats: VifStats }[] {
    return this.mgr.vifs.list().map((vif) => ({ vif, stats: this.mgr.interfaceStats(vif.index) }));
  }

  /** scrape: the exposition text, from one read of the maps. */
  async scrape(): Promise<string> {
    this.vifRows = this.readVifs();
    try {
      return await this.registry.metrics();
    } finally {
      this.vifRows = undefined;
    }
  }
}

/** prom-client's default gauges whose names end in _total (dropped) */
export const DEFAULT_TOTAL_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

function datapathRegistry(mgr: DatapathManager, adopted: boolean, vifRows: () => { vif: Vif; stats: VifStats }[]): Registry {
  const registry = new Registry();
  // the event-loop lag gauges sample every 5 ms (prom-client's default is 10):
  // fine enough to tell a 5 ms stall; each value includes the 5 ms interval
  collectDefaultMetrics({ register: registry, prefix: 'vrouter_ebpfd_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  // gauges named like counters, which promtool refuses; the same numbers are the
  // sums of their by-type twins (vrouter_ebpfd_nodejs_active_handles{type} ...)
  for (const name of DEFAULT_TOTAL_GAUGES) registry.removeSingleMetric(`vrouter_ebpfd_${name}`);

  new Counter({
    name: 'vrouter_drops_total',
    help: 'Packets dropped by the datapath, by reason (summed over CPUs).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const d of mgr.dropStats()) if (d.reason !== 0) this.inc({ reason: d.name }, Number(d.packets));
    },
  });

  const vifCounters = [
    ['vrouter_interface_rx_packets_total', 'Packets received on a vif.', 'rxPackets'],
    ['vrouter_interface_rx_bytes_total', 'Bytes received on a vif.', 'rxBytes'],
    ['vrouter_interface_tx_packets_total', 'Packets sent out of a vif.', 'txPackets'],
    ['vrouter_interface_tx_bytes_total', 'Bytes sent out of a vif.', 'txBytes'],
    ['vrouter_interface_drops_total', 'Packets received on a vif and dropped.', 'drops'],
    ['vrouter_interface_to_host_total', 'Packets received on a vif and passed to the kernel.', 'toHost'],
    ['vrouter_interface_proxied_total', 'ARP requests and neighbour solicitations answered on a vif.', 'proxied'],
  ] as const;
  for (const [name, help, field] of vifCounters) {
    new Counter({
      name,
      help,
      labelNames: ['vif', 'name'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { vif, stats } of vifRows()) this.inc({ vif: String(vif.index), name: vif.name }, Number(stats[field]));
      },
    });
  }

  new Gauge({
    name: 'vrouter_interface_info',
    help: 'One per vif (value 1): its VRF, the hook it runs on (xdp, tc), its XDP mode, its hook policy, and whether TC delivers to it with bpf_redirect_peer.',
    labelNames: ['vif', 'name', 'hook', 'mode', 'policy', 'peer_delivery', 'vrf'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of mgr.vifs.list())
        this.set({ vif: String(v.index), name: v.name, hook: v.hook, mode: v.hook === 'xdp' ? v.attachMode : '', policy: v.hookPolicy, peer_delivery: String(v.peer), vrf: String(v.vrf) }, 1);
    },
  });

  new Gauge({
    name: 'vrouter_map_entries',
    help: 'Live entries per datapath map.',
    labelNames: ['map'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [map, n] of Object.entries(mgr.mapUsage())) this.set({ map }, n);
    },
  });
  new Gauge({
    name: 'vrouter_map_capacity',
    help: 'max_entries per datapath map.',
    labelNames: ['map'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [map, m] of Object.entries(mgr.kernel.maps)) this.set({ map: map as MapName }, m.maxEntries);
    },
  });
  new Gauge({
    name: 'vrouter_datapath_adopted',
    help: '1 when this daemon adopted a pinned datapath, 0 when it loaded it.',
    registers: [registry],
    collect() {
      this.set(adopted ? 1 : 0);
    },
  });
  return registry;
}

/** serveMetrics: GET /metrics on host:port; resolves once listening. */
export function serveMetrics(metrics: DatapathMetrics, address: string, log: Logger): Promise<Server> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(address.slice(i + 1));
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404).end('not found: try /metrics\n');
      return;
    }
    metrics
      .scrape()
      .then((body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body))
      .catch((err: unknown) => {
        log.error({ err }, 'metrics scrape failed');
        res.writeHead(500).end('scrape failed\n');
      });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      log.info({ address }, 'serving /metrics');
      resolve(server);
    });
  });
}
