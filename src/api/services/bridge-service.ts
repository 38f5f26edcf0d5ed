/** BridgeService: the bridge (MAC) table of each VRF (VRF + MAC → next hop). */
import type { Handlers } from '../grpc-adapter.ts';
import { BridgeService } from '../../gen/vrouter/ebpf/v1/bridge_pb.js';
import type { DatapathManager } from '../../manager/datapath-manager.ts';
import { invalid } from '../../manager/errors.ts';
import { locate } from '../convert/locate.ts';
import { BRIDGE_RENAMES, bridgeFromProto, bridgeKeyFromProto, bridgeToProto, decodeBridgeToken, encodeBridgeToken } from '../convert/bridge.ts';

const MAX_PAGE = 10_000;
const DEFAULT_PAGE = 1000;

export function bridgeHandlers(mgr: DatapathManager): Handlers<typeof BridgeService> {
  return {
    async addBridgeEntry(req) {
      const e = bridgeFromProto(req.entry, 'entry.');
      await locate(() => mgr.addBridge(e), () => 'entry.', BRIDGE_RENAMES);
      return {};
    },
    async updateBridgeEntry(req) {
      const e = bridgeFromProto(req.entry, 'entry.');
      await locate(() => mgr.updateBridge(e), () => 'entry.', BRIDGE_RENAMES);
      return {};
    },
    async deleteBridgeEntry(req) {
      const k = bridgeKeyFromProto(req, '');
      await locate(() => mgr.deleteBridge(k), () => '', BRIDGE_RENAMES);
      return {};
    },
    getBridgeEntry(req) {
      const k = bridgeKeyFromProto(req, '');
      return { entry: bridgeToProto(locate(() => mgr.bridge.get(k), () => '', BRIDGE_RENAMES)) };
    },
    listBridgeEntries(req) {
      if (req.pageSize > MAX_PAGE) throw invalid('page_size', `${req.pageSize} is out of range (0..${MAX_PAGE})`);
      const size = req.pageSize || DEFAULT_PAGE;
      const after = req.pageToken ? decodeBridgeToken(req.pageToken, req.vrf, 'page_token') : undefined;
      // one more than the page: whether another page follows
      const got = mgr.bridge.list(req.vrf, after, size + 1);
      const page = got.slice(0, size);
      return {
        entries: page.map(bridgeToProto),
        nextPageToken: got.length > size ? encodeBridgeToken(page[page.length - 1]!, req.vrf) : '',
      };
    },
  };
}
