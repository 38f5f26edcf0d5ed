/**
 * datapathView: what the datapath itself says after a run, kept with the
 * figures, because a low rate is explained there: the wrong hook, generic
 * instead of native XDP, or packets dropped under a named reason.
 */
import { collect, type VrouterClient } from '../src/client/client.ts';
import { AttachHook, AttachMode } from '../src/gen/vrouter/ebpf/v1/interface_pb.js';

export async function datapathView(client: VrouterClient): Promise<Record<string, unknown>> {
  const vifs = await collect(client.interfaces.listInterfaces({}));
  const stats = await collect(client.stats.listInterfaceStats({}));
  const drops = await client.stats.getDropStats({});
  return {
    hooks: Object.fromEntries(vifs.map((v) => [v.interface!.name, AttachHook[v.interface!.hook]])),
    attachModes: Object.fromEntries(vifs.map((v) => [v.interface!.name, AttachMode[v.interface!.attachMode]])),
    peerDelivery: Object.fromEntries(vifs.map((v) => [v.interface!.name, v.interface!.peerDelivery])),
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

/**
 * requireHook: every vif runs on the hook asked for, else the row would be
 * measuring another path under this one's name.
 */
export async function requireHook(client: VrouterClient, want: AttachHook.XDP | AttachHook.TC): Promise<void> {
  const vifs = await collect(client.interfaces.listInterfaces({}));
  const wrong = vifs.filter((v) => v.interface!.hook !== want);
  if (!vifs.length || wrong.length)
    throw new Error(
      `vifs asked for hook_policy ${AttachHook[want]} run on ${wrong.map((v) => `${v.interface!.name}: ${AttachHook[v.interface!.hook]}`).join(', ') || 'nothing'}` +
        ` (does this daemon attach hook_policy ${AttachHook[want]}?)`,
    );
}
