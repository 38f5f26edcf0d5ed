/** VxlanService: the VNI table (VNI → next hop). */
import type { Handlers } from '../grpc-adapter.ts';
import { VxlanService } from '../../gen/vrouter/ebpf/v1/vxlan_pb.js';
import type { DatapathManager } from '../../manager/datapath-manager.ts';
import { locate } from '../convert/locate.ts';
import { VNI_RENAMES, vniFromProto, vniToProto } from '../convert/decap.ts';

export function vxlanHandlers(mgr: DatapathManager): Handlers<typeof VxlanService> {
  return {
    async addVni(req) {
      const e = vniFromProto(req.vni, 'vni.');
      await locate(() => mgr.addDecap('vxlan', e), () => 'vni.', VNI_RENAMES);
      return {};
    },
    async updateVni(req) {
      const e = vniFromProto(req.vni, 'vni.');
      await locate(() => mgr.updateDecap('vxlan', e), () => 'vni.', VNI_RENAMES);
      return {};
    },
    async deleteVni(req) {
      await locate(() => mgr.deleteDecap('vxlan', req.vni), () => '', VNI_RENAMES);
      return {};
    },
    getVni(req) {
      return { vni: vniToProto(locate(() => mgr.vnis.get(req.vni), () => '', VNI_RENAMES)) };
    },
    *listVnis() {
      for (const e of mgr.vnis.list()) yield { vni: vniToProto(e) };
    },
  };
}
