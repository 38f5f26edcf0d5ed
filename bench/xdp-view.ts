/**
 * xdpView: what the datapath itself says after the XDP runs, kept with the
 * figures, because a low packet rate is explained there: generic instead of
 * native mode, or packets dropped under a named reason.
 */
import { collect, type VrouterClient } from '../src/client/client.ts';
import { AttachMode } from '../src/gen/vrouter/ebpf/v1/interface_pb.js';

export async function xdpView(client: VrouterClient): Promise<Record<string, unknown>> {
  const vifs = await collect(client.interfaces.listInterfaces({}));
  const stats = await collect(client.stats.listInterfaceStats({}));
  const drops = await client.stats.getDropStats({});
  return {
    attachModes: Object.fromEntries(vifs.map((v) => [v.interface!.name, AttachMode[v.interface!.attachMode]])),
    drops: Object.fromEntries(drops.counters.filter((c) => c.packets > 0n).map((c) => [c.name, Number(c.packets)])),
    vifs: stats.map(({ stats: s }) => ({
      name: s!.name,
      rxPackets: Number(s!.rxPackets),
      txPackets: Number(s!.txPackets),
      drops: Number(s!.drops),
      toHost: Number(s!.toHost),
    })),
  };
}
