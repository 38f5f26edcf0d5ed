/** InterfaceService: vifs. */
import type { Handlers } from '../grpc-adapter.ts';
import { InterfaceService } from '../../gen/vrouter/ebpf/v1/interface_pb.js';
import type { DatapathManager } from '../../manager/datapath-manager.ts';
import { locate } from '../convert/locate.ts';
import { VIF_RENAMES, vifChangeFromProto, vifSpecFromProto, vifToProto } from '../convert/interface.ts';

export function interfaceHandlers(mgr: DatapathManager): Handlers<typeof InterfaceService> {
  return {
    async addInterface(req) {
      const spec = vifSpecFromProto(req.interface, req.attachMode, 'interface.', 'attach_mode');
      return { interface: vifToProto(await locate(() => mgr.addInterface(spec), () => 'interface.', VIF_RENAMES)) };
    },
    async updateInterface(req) {
      const change = vifChangeFromProto(req);
      return { interface: vifToProto(await locate(() => mgr.updateInterface(req.index, change), () => '', VIF_RENAMES)) };
    },
    async deleteInterface(req) {
      await locate(() => mgr.deleteInterface(req.index), () => '', VIF_RENAMES);
      return {};
    },
    getInterface(req) {
      return { interface: vifToProto(mgr.vifs.get(req.index)) };
    },
    *listInterfaces() {
      for (const vif of mgr.vifs.list()) yield { interface: vifToProto(vif) };
    },
  };
}
