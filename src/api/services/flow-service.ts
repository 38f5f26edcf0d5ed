/** FlowService: flow entries (set, delete, get, paged list) and the flow-miss and flow-event streams. */
import type { Handlers } from '../grpc-adapter.ts';
import { FlowService } from '../../gen/vrouter/ebpf/v1/flow_pb.js';
import type { FlowHub } from '../../flows/hub.ts';
import type { DatapathManager } from '../../manager/datapath-manager.ts';
import { CHUNK, breathe } from '../../manager/command-queue.ts';
import { invalid } from '../../manager/errors.ts';
import { MAX_FLOWS_PER_BATCH } from '../../manager/flow-manager.ts';
import type { FlowSpec } from '../../manager/flow-model.ts';
import { parseIp } from '../../manager/net-addr.ts';
import { ACTION_CODE, type PageCursor } from '../../maps/tables/flow-table.ts';
import { locate } from '../convert/locate.ts';
import { FLOW_RENAMES, actionFromProto, flowKeyFromProto, flowSpecFromProto, flowToProto } from '../convert/flow.ts';
import { decodePageToken, encodePageToken, filterHash } from '../convert/page-token.ts';
import { watchEvents, watchMisses } from './flow-watch.ts';

const MAX_PAGE = 10_000;
const DEFAULT_PAGE = 1000;

export function flowHandlers(mgr: DatapathManager, hub: FlowHub | undefined): Handlers<typeof FlowService> {
  return {
    async setFlow(req) {
      const spec = flowSpecFromProto(req.flow, 'flow.');
      const r = await locate(() => mgr.setFlow(spec), () => 'flow.', FLOW_RENAMES);
      const now = process.hrtime.bigint();
      return { flow: flowToProto(r.flow, now), reverse: r.reverse && flowToProto(r.reverse, now), created: r.created };
    },
    async setFlows(req) {
      const n = req.flows.length;
      if (!n || n > MAX_FLOWS_PER_BATCH) throw invalid('flows', `${n} flows; give 1 to ${MAX_FLOWS_PER_BATCH}`);
      const specs: FlowSpec[] = new Array(n);
      for (let i = 0; i < n; i++) {
        specs[i] = flowSpecFromProto(req.flows[i], `flows[${i}].`);
        if (i % CHUNK === CHUNK - 1) await breathe();
      }
      return locate(() => mgr.setFlows(specs), (i) => `flows[${i ?? 0}].`, FLOW_RENAMES);
    },
    async deleteFlow(req) {
      const key = flowKeyFromProto(req.key, 'key.');
      const r = await locate(() => mgr.deleteFlow(key), () => '', FLOW_RENAMES);
      return { flow: flowToProto(r.flow), entriesDeleted: r.entries };
    },
    getFlow(req) {
      const key = flowKeyFromProto(req.key, 'key.');
      const r = locate(() => mgr.flows.get(key), () => '', FLOW_RENAMES);
      const now = process.hrtime.bigint();
      return { flow: flowToProto(r.flow, now), pair: r.pair && flowToProto(r.pair, now) };
    },
    listFlows(req) {
      if (req.pageSize > MAX_PAGE) throw invalid('page_size', `${req.pageSize} is out of range (1..${MAX_PAGE}; 0: ${DEFAULT_PAGE})`);
      if (req.protocol !== undefined && req.protocol > 255) throw invalid('protocol', `protocol ${req.protocol} is out of range (0..255)`);
      const addr = req.address ? parseIp(req.address, 'address').bytes : undefined;
      const action = actionFromProto(req.action, 'action');
      const filter = { vrf: req.vrf, proto: req.protocol, addr, action: action && ACTION_CODE[action] };
      const hash = filterHash([filter.vrf, addr?.toString('hex'), filter.proto, filter.action].map((x) => x ?? '').join('|'));
      const from: PageCursor = req.pageToken ? decodePageToken(req.pageToken, hash, 'page_token') : { at: null, skip: 0 };
      const page = locate(() => mgr.flows.list(filter, req.pageSize || DEFAULT_PAGE, from), () => '', {});
      const now = process.hrtime.bigint();
      return { flows: page.flows.map((f) => flowToProto(f, now)), nextPageToken: page.next ? encodePageToken(page.next, hash) : '' };
    },
    watchFlowMisses: (reqs, ctx) => watchMisses(hub, reqs, ctx),
    watchFlowEvents: (req, ctx) => watchEvents(hub, req, ctx),
  };
}
