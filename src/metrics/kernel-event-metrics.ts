/**
 * kernelEventMetrics: rtnetlink events by type (src/netlink/kernel-events.ts)
 * and each vif's operational state, read at scrape time.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { KernelEventType } from '../netlink/kernel-events.ts';
import type { Vif } from '../manager/model.ts';

export interface KernelEventStats {
  stats(): { counts: ReadonlyMap<KernelEventType, number>; watchers: number };
}

export function kernelEventMetrics(registry: Registry, events: KernelEventStats, vifs: () => Vif[]): void {
  new Counter({
    name: 'vrouter_kernel_events_total',
    help: 'rtnetlink events of the daemon\'s network namespace, by type (link_up, link_down, link_rename, link_delete, address_*, neighbour_*, route_*, overrun).',
    labelNames: ['type'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [type, n] of events.stats().counts) this.inc({ type }, n);
    },
  });
  new Gauge({
    name: 'vrouter_kernel_event_watchers',
    help: 'WatchKernelEvents streams open now.',
    registers: [registry],
    collect() {
      this.set(events.stats().watchers);
    },
  });
  new Gauge({
    name: 'vrouter_interface_oper_up',
    help: '1 while the vif\'s kernel interface is operationally up as rtnetlink last said (0: down or deleted; traffic to it is dropped as interface_link_down).',
    labelNames: ['vif', 'name'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of vifs()) this.set({ vif: String(v.index), name: v.name }, v.linkDown || v.orphaned ? 0 : 1);
    },
  });
}
