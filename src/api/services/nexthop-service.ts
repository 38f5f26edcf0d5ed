/** NextHopService: next hops. */
import type { Handlers } from '../grpc-adapter.ts';
import { NextHopService } from '../../gen/vrouter/ebpf/v1/nexthop_pb.js';
import type { DatapathManager } from '../../manager/datapath-manager.ts';
import { locate } from '../convert/locate.ts';
import { NH_RENAMES, nextHopSpecFromProto, nextHopToProto } from '../convert/nexthop.ts';

export function nextHopHandlers(mgr: DatapathManager): Handlers<typeof NextHopService> {
  const out = (id: number) =>
    nextHopToProto(mgr.nhs.get(id), mgr.nhs.refCount(id), mgr.nhs.decapRefCount(id), mgr.nhs.bridgeRefCount(id), mgr.nhs.compositeRefCount(id));
  return {
    async addNextHop(req) {
      const spec = nextHopSpecFromProto(req.nextHop, 'next_hop.');
      return { nextHop: out((await locate(() => mgr.addNextHop(spec), () => 'next_hop.', NH_RENAMES)).id) };
    },
    async updateNextHop(req) {
      const spec = nextHopSpecFromProto(req.nextHop, 'next_hop.');
      return { nextHop: out((await locate(() => mgr.updateNextHop(spec), () => 'next_hop.', NH_RENAMES)).id) };
    },
    async deleteNextHop(req) {
      await locate(() => mgr.deleteNextHop(req.id), () => '', NH_RENAMES);
      return {};
    },
    getNextHop(req) {
      return { nextHop: out(req.id) };
    },
    *listNextHops() {
      for (const id of mgr.nhs.ids()) yield { nextHop: out(id) };
    },
    async addCompositeMember(req) {
      return { nextHop: out((await locate(() => mgr.addCompositeMember(req.id, req.memberId), () => '', NH_RENAMES)).id) };
    },
    async removeCompositeMember(req) {
      return { nextHop: out((await locate(() => mgr.removeCompositeMember(req.id, req.memberId), () => '', NH_RENAMES)).id) };
    },
  };
}
