/**
 * Metrics: a private registry whose collectors read the datapath's maps at
 * scrape time, and the HTTP server for /metrics.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import type { DatapathManager } from '../manager/datapath-manager.ts';
import type { MapName } from '../maps/layout.ts';

export function datapathRegistry(mgr: DatapathManager): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vrouter_ebpfd_' });

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
        for (const vif of mgr.listInterfaces()) {
          const s = mgr.interfaceStats(vif.index);
          this.inc({ vif: String(vif.index), name: vif.name }, Number(s[field]));
        }
      },
    });
  }

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
      for (const [map, m] of Object.entries(mgr.dp.maps)) this.set({ map: map as MapName }, m.info.maxEntries);
    },
  });
  new Gauge({
    name: 'vrouter_datapath_adopted',
    help: '1 when this daemon adopted a pinned datapath, 0 when it loaded it.',
    registers: [registry],
    collect() {
      this.set(mgr.dp.adopted ? 1 : 0);
    },
  });
  return registry;
}

/** serveMetrics: GET /metrics on host:port; resolves once listening. */
export function serveMetrics(registry: Registry, address: string, log: Logger): Promise<Server> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(address.slice(i + 1));
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404).end('not found: try /metrics\n');
      return;
    }
    registry
      .metrics()
      .then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body))
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
