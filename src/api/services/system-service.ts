/** SystemService: versions, capacities and usage, programs and attachments. */
import { release } from 'node:os';
import type { Handlers } from '../grpc-adapter.ts';
import { SyncState, SystemService, type SyncEpochSchema } from '../../gen/vrouter/ebpf/v1/system_pb.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { DatapathManager, SyncState as EpochState } from '../../manager/datapath-manager.ts';
import { MAP_TYPE_NAMES, numPossibleCpus } from '../../bpf/map.ts';
import { VR_LAYOUT_VERSION, type MapName } from '../../maps/layout.ts';
import { AttachMode } from '../../gen/vrouter/ebpf/v1/interface_pb.js';
import { attachModeToProto, hookToProto } from '../convert/interface.ts';
import type { PinnedDatapath } from '../../maps/pinned-datapath.ts';
import type { KernelEvents } from '../../netlink/kernel-events.ts';
import { watchKernelEvents } from './kernel-watch.ts';

export interface DaemonInfo {
  version: string;
  instance: string;
  startedAt: number;
  dp: PinnedDatapath;
  /** how long a sync epoch whose stream went away stays orphaned (default 60 s) */
  syncOrphanTimeoutMs?: number;
}

const SYNC_STATES: Record<EpochState['state'], SyncState> = {
  open: SyncState.OPEN,
  orphaned: SyncState.ORPHANED,
  completed: SyncState.COMPLETED,
  abandoned: SyncState.ABANDONED,
};

function syncToProto(s: EpochState | undefined): MessageInitShape<typeof SyncEpochSchema> | undefined {
  if (!s) return undefined;
  return {
    epoch: BigInt(s.epoch),
    owner: s.owner,
    state: SYNC_STATES[s.state],
    startedAtMs: BigInt(s.startedAt),
    endedAtMs: BigInt(s.endedAt ?? 0),
    removed: { interfaces: s.removed.vifs, nextHops: s.removed.nextHops, routes: s.removed.routes, labels: s.removed.labels, vnis: s.removed.vnis, bridgeEntries: s.removed.bridge },
    reason: s.reason,
  };
}

export function systemHandlers(mgr: DatapathManager, info: DaemonInfo, kernel?: KernelEvents): Handlers<typeof SystemService> {
  return {
    watchKernelEvents: (req, ctx) => watchKernelEvents(kernel, req, ctx),
    getSystemInfo() {
      const dp = info.dp;
      const progs = { xdp: dp.xdp.info(), tc: dp.tc.info(), egress: dp.egress.info() };
      const pinPaths = { xdp: dp.xdp.pinPath, tc: dp.tc.pinPath, egress: dp.egress.pinPath };
      const used = mgr.mapUsage();
      const sync = mgr.syncStatus();
      return {
        version: info.version,
        kernel: release(),
        instance: info.instance,
        bpffsDir: dp.dir,
        layoutVersion: VR_LAYOUT_VERSION,
        adopted: dp.adopted,
        uptimeSeconds: (Date.now() - info.startedAt) / 1000,
        datapathUptimeSeconds: Number(BigInt(Date.now()) * 1_000_000n - dp.loadedAtNs) / 1e9,
        possibleCpus: numPossibleCpus(),
        currentSync: syncToProto(sync.current),
        lastSync: syncToProto(sync.last),
        programs: (['xdp', 'tc', 'egress'] as const).map((hook) => {
          const p = progs[hook];
          return { name: p.name, id: p.id, tag: p.tag, pinPath: pinPaths[hook], xlatedBytes: p.xlatedBytes, jitedBytes: p.jitedBytes };
        }),
        maps: (Object.entries(dp.maps) as [MapName, (typeof dp.maps)[MapName]][]).map(([name, m]) => ({
          name,
          id: m.info.id,
          type: MAP_TYPE_NAMES[m.info.type] ?? String(m.info.type),
          keySize: m.info.keySize,
          valueSize: m.info.valueSize,
          capacity: m.info.maxEntries,
          used: used[name],
          pinPath: m.pinPath,
        })),
        attachments: mgr.vifs.list().flatMap((v) => {
          const link = mgr.vifs.linkOf(v.index)?.info();
          const at = { interfaceIndex: v.index, name: v.name, osIndex: v.ifindex };
          const ingress = {
            ...at,
            mode: v.hook === 'xdp' ? attachModeToProto(v.attachMode) : AttachMode.UNSPECIFIED,
            linkId: link?.id ?? 0,
            program: progs[v.hook].name,
            hook: hookToProto(v.hook),
            egress: false,
          };
          if (v.type !== 'host') return [ingress];
          const egress = mgr.vifs.egressLinkOf(v.index)?.info();
          return [
            ingress,
            { ...at, mode: AttachMode.UNSPECIFIED, linkId: egress?.id ?? 0, program: progs.egress.name, hook: hookToProto('tc'), egress: true },
          ];
        }),
      };
    },
  };
}
