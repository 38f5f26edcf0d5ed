/** NextHopService: next hops. */
import type { Handlers } from '../grpc-adapter.ts';
import { NextHopService, type NextHop as NextHopMsg } from '../../gen/vrouter/ebpf/v1/nexthop_pb.js';
import type { DatapathManager } from '../../manager/datapath-manager.ts';
import { invalid } from '../../manager/errors.ts';
import type { NextHopSpec } from '../../manager/model.ts';
import { nextHopToProto } from '../convert.ts';

function specOf(nh: NextHopMsg | undefined): NextHopSpec {
  if (!nh) throw invalid('next_hop', 'the next hop is required');
  const spec: NextHopSpec = { id: nh.id, vrf: nh.vrf, kind: nh.kind.case };
  if (nh.kind.case === 'encap')
    spec.encap = { vifIndex: nh.kind.value.interfaceIndex, dstMac: nh.kind.value.dstMac, srcMac: nh.kind.value.srcMac };
  return spec;
}

export function nextHopHandlers(mgr: DatapathManager): Handlers<typeof NextHopService> {
  const out = (id: number) => nextHopToProto(mgr.getNextHop(id), mgr.refCount(id));
  return {
    addNextHop(req) {
      return { nextHop: out(mgr.addNextHop(specOf(req.nextHop)).id) };
    },
    updateNextHop(req) {
      return { nextHop: out(mgr.updateNextHop(specOf(req.nextHop)).id) };
    },
    deleteNextHop(req) {
      mgr.deleteNextHop(req.id);
      return {};
    },
    getNextHop(req) {
      return { nextHop: out(mgr.getNextHop(req.id).id) };
    },
    *listNextHops() {
      for (const nh of mgr.listNextHops()) yield { nextHop: nextHopToProto(nh, mgr.refCount(nh.id)) };
    },
  };
}
