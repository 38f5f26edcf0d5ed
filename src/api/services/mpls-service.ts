/** MplsService: the MPLS label table (label → next hop). */
import type { Handlers } from '../grpc-adapter.ts';
import { MplsService } from '../../gen/vrouter/ebpf/v1/mpls_pb.js';
import type { DatapathManager } from '../../manager/datapath-manager.ts';
import { locate } from '../convert/locate.ts';
import { LABEL_RENAMES, labelFromProto, labelToProto } from '../convert/decap.ts';

export function mplsHandlers(mgr: DatapathManager): Handlers<typeof MplsService> {
  return {
    async addLabel(req) {
      const e = labelFromProto(req.label, 'label.');
      await locate(() => mgr.addDecap('mpls', e), () => 'label.', LABEL_RENAMES);
      return {};
    },
    async updateLabel(req) {
      const e = labelFromProto(req.label, 'label.');
      await locate(() => mgr.updateDecap('mpls', e), () => 'label.', LABEL_RENAMES);
      return {};
    },
    async deleteLabel(req) {
      await locate(() => mgr.deleteDecap('mpls', req.label), () => '', LABEL_RENAMES);
      return {};
    },
    getLabel(req) {
      return { label: labelToProto(locate(() => mgr.labels.get(req.label), () => '', LABEL_RENAMES)) };
    },
    *listLabels() {
      for (const e of mgr.labels.list()) yield { label: labelToProto(e) };
    },
  };
}
