/**
 * flowMetrics: the daemon's side of flows (FlowHub.stats) at scrape time:
 * what it holds, re-injects and expires, the miss and event watchers and
 * what they lost, and the flows aging removed. Label-free: one series each.
 */
import type { Registry } from 'prom-client';
import type { FlowHubStats } from '../flows/hub.ts';
import { scrapedCounter, scrapedGauge } from './scraped.ts';

type Field = { [K in keyof FlowHubStats]-?: FlowHubStats[K] extends bigint | number | undefined ? K : never }[keyof FlowHubStats];

const COUNTERS: [string, string, Field][] = [
  ['vrouter_flow_reinjected_packets_total', 'Held packets re-injected into the datapath once the agent answered their miss.', 'reinjected'],
  ['vrouter_flow_miss_watcher_lost_total', 'Misses and flow events that watchers (WatchFlowMisses / WatchFlowEvents streams) lost by falling behind, summed over watchers.', 'watcherLosses'],
  ['vrouter_flows_aged_total', 'Flows removed by aging (idle past their protocol\'s timeout).', 'flowsAged'],
  ['vrouter_flows_closed_total', 'TCP flows removed after RST or FIN both ways.', 'flowsClosed'],
];

const GAUGES: [string, string, Field][] = [
  ['vrouter_flow_held_packets', 'Packets the daemon holds now, waiting for the agent\'s answer to their miss.', 'framesHeld'],
  ['vrouter_flow_watchers', 'WatchFlowMisses and WatchFlowEvents streams open now.', 'watchers'],
];

export function flowMetrics(registry: Registry, hub: { stats(): FlowHubStats }): void {
  for (const [name, help, field] of COUNTERS) scrapedCounter(registry, name, help, () => hub.stats()[field] ?? 0);
  for (const [name, help, field] of GAUGES) scrapedGauge(registry, name, help, () => hub.stats()[field] ?? 0);
}
