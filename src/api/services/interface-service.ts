/** InterfaceService: vifs. */
import type { Handlers } from '../grpc-adapter.ts';
import { InterfaceService } from '../../gen/vrouter/ebpf/v1/interface_pb.js';
import type { DatapathManager } from '../../manager/datapath-manager.ts';
import { invalid } from '../../manager/errors.ts';
import { attachModeFromProto, vifToProto, vifTypeFromProto } from '../convert.ts';

export function interfaceHandlers(mgr: DatapathManager): Handlers<typeof InterfaceService> {
  return {
    addInterface(req) {
      const i = req.interface;
      if (!i) throw invalid('interface', 'the interface is required');
      const vif = mgr.addInterface({
        index: i.index,
        type: vifTypeFromProto(i.type, 'interface.type'),
        name: i.name,
        vrf: i.vrf,
        mac: i.mac,
        ipv4: i.ipv4Address,
        ipv6: i.ipv6Address,
        mtu: i.mtu,
        policyEnabled: i.policyEnabled,
        disabled: i.disabled,
        attachMode: attachModeFromProto(req.attachMode, 'attach_mode'),
      });
      return { interface: vifToProto(vif) };
    },
    updateInterface(req) {
      const vif = mgr.updateInterface(req.index, {
        vrf: req.vrf,
        mac: req.mac,
        ipv4: req.ipv4Address,
        ipv6: req.ipv6Address,
        mtu: req.mtu,
        policyEnabled: req.policyEnabled,
        disabled: req.disabled,
      });
      return { interface: vifToProto(vif) };
    },
    deleteInterface(req) {
      mgr.deleteInterface(req.index);
      return {};
    },
    getInterface(req) {
      return { interface: vifToProto(mgr.getInterface(req.index)) };
    },
    *listInterfaces() {
      for (const vif of mgr.listInterfaces()) yield { interface: vifToProto(vif) };
    },
  };
}
