/** StatsService: counters read from the maps at call time. */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Handlers } from '../grpc-adapter.ts';
import { StatsService, type InterfaceStatsSchema } from '../../gen/vrouter/ebpf/v1/stats_pb.js';
import type { DatapathManager } from '../../manager/datapath-manager.ts';

function vifStats(mgr: DatapathManager, index: number): MessageInitShape<typeof InterfaceStatsSchema> {
  return { index, name: mgr.vifs.get(index).name, ...mgr.interfaceStats(index) };
}

export function statsHandlers(mgr: DatapathManager): Handlers<typeof StatsService> {
  return {
    getDropStats(req) {
      const counters = mgr.dropStats().filter((d) => d.reason !== 0);
      return {
        counters: counters.map((d) => ({
          reason: d.reason,
          name: d.name,
          packets: d.packets,
          perCpu: req.perCpu ? d.perCpu : [],
        })),
        total: counters.reduce((a, d) => a + d.packets, 0n),
      };
    },
    getInterfaceStats(req) {
      return { stats: vifStats(mgr, req.index) };
    },
    *listInterfaceStats() {
      for (const vif of mgr.vifs.list()) yield { stats: vifStats(mgr, vif.index) };
    },
  };
}
