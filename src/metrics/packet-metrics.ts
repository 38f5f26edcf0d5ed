/**
 * packetMetrics: the flow counters of vr_fctr (read at scrape time) and the
 * packet watchers' fan-out (PacketHub.stats), into a registry.
 */
import type { Registry } from 'prom-client';
import { scrapedCounter, scrapedGauge } from './scraped.ts';
import type { KernelMap } from '../maps/kernel.ts';
import { readFlowCounters, type FlowCounterName } from '../maps/tables/flow-counters.ts';
import { readTunnelCounters, type TunnelCounterName } from '../maps/tables/tunnel-counters.ts';
import type { PacketHubStats } from '../packets/packet-hub.ts';

const FLOW_COUNTERS: [string, string, FlowCounterName][] = [
  ['vrouter_flow_misses_total', 'Flow misses the datapath reported (HOLD entries made), summed over CPUs.', 'misses'],
  ['vrouter_flow_held_packets_total', 'Packets held on a flow miss (handed to the daemon, not dropped), summed over CPUs.', 'held'],
  ['vrouter_flow_hits_total', 'Packets that met a FORWARD or NAT flow, summed over CPUs.', 'hits'],
  ['vrouter_trapped_packets_total', 'Packets of interest the datapath trapped to the agent (trap rules), summed over CPUs.', 'trapped'],
];

const TUNNEL_COUNTERS: [string, string, TunnelCounterName][] = [
  ['vrouter_tunnel_encap_packets_total', 'Packets the datapath sent into a tunnel (MPLSoUDP, MPLSoGRE, VXLAN), summed over CPUs.', 'encap'],
  ['vrouter_tunnel_decap_packets_total', 'Tunnelled packets the datapath took out of their outer headers, summed over CPUs.', 'decap'],
  ['vrouter_tunnel_neighbour_resolutions_total', 'Encapsulated packets handed to the kernel to resolve the underlay neighbour (sent once it answers), summed over CPUs.', 'neigh'],
  ['vrouter_icmp_too_big_sent_total', 'ICMP fragmentation needed / ICMPv6 packet too big the datapath answered oversize packets with, summed over CPUs.', 'icmp_too_big'],
];

/** tunnelMetrics: the tunnel counters of vr_tctr (read at scrape time) */
export function tunnelMetrics(registry: Registry, tctr: KernelMap): void {
  for (const [name, help, field] of TUNNEL_COUNTERS) scrapedCounter(registry, name, help, () => readTunnelCounters(tctr)[field]);
}

export function packetMetrics(registry: Registry, fctr: KernelMap, packets: { stats(): PacketHubStats } | undefined): void {
  for (const [name, help, field] of FLOW_COUNTERS) scrapedCounter(registry, name, help, () => readFlowCounters(fctr)[field]);
  if (!packets) return;
  scrapedCounter(
    registry,
    'vrouter_packet_watcher_lost_total',
    'Trapped packets that watchers (WatchPackets streams) lost because their queue was full, summed over watchers since start.',
    () => packets.stats().watcherLost,
  );
  scrapedCounter(
    registry,
    'vrouter_trapped_packets_unwatched_total',
    'Trapped packets the daemon read that no watcher asked for (nobody watching, or filtered out).',
    () => packets.stats().unwatched,
  );
  scrapedGauge(registry, 'vrouter_packet_watchers', 'WatchPackets streams open now.', () => packets.stats().watchers);
}
