/**
 * Operation messages ⇄ manager ops, and op errors ⇄ StepResult. An
 * Operation is the request of the matching unary call, so each kind reuses
 * that call's converter with the operation's path in front
 * ("op.add_route." + "route.prefix").
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Operation, StepResultSchema } from '../../gen/vrouter/ebpf/v1/program_pb.js';
import { DatapathError, invalid } from '../../manager/errors.ts';
import type { Op } from '../../manager/model.ts';
import { toServiceError } from '../status.ts';
import { VIF_RENAMES, vifChangeFromProto, vifSpecFromProto } from './interface.ts';
import { place, type Renames } from './locate.ts';
import { NH_RENAMES, nextHopSpecFromProto } from './nexthop.ts';
import { ROUTE_RENAMES, routeFromProto, routeKeyFromProto } from './route.ts';
import { FLOW_RENAMES, flowKeyFromProto, flowSpecFromProto } from './flow.ts';
import { LABEL_RENAMES, VNI_RENAMES, labelFromProto, vniFromProto } from './decap.ts';
import { BRIDGE_RENAMES, bridgeFromProto, bridgeKeyFromProto } from './bridge.ts';

/** the most operations one ProgramRequest (or ApplyRequest) may carry */
export const MAX_OPS_PER_MESSAGE = 100_000;

/** ParsedOp: a manager op with what is needed to place its errors in the request. */
export interface ParsedOp {
  op: Op;
  /** the path of the object message in the request, ending in "." ("ops[3].add_route.route.") */
  at: string;
  renames: Renames;
}

/** opFromProto: `at` is the Operation's path, ending in "." ("op.", "ops[3].", "transaction.ops[2]."). */
export function opFromProto(o: Operation, at: string): ParsedOp {
  const v = o.op;
  switch (v.case) {
    case 'addInterface': {
      const p = `${at}add_interface.`;
      return { op: { kind: 'vif', action: 'add', spec: vifSpecFromProto(v.value.interface, v.value.attachMode, `${p}interface.`, `${p}attach_mode`) }, at: `${p}interface.`, renames: VIF_RENAMES };
    }
    case 'updateInterface': {
      const p = `${at}update_interface.`;
      return { op: { kind: 'vif', action: 'update', index: v.value.index, change: vifChangeFromProto(v.value, p) }, at: p, renames: VIF_RENAMES };
    }
    case 'deleteInterface':
      return { op: { kind: 'vif', action: 'delete', index: v.value.index }, at: `${at}delete_interface.`, renames: VIF_RENAMES };
    case 'addNextHop':
    case 'updateNextHop': {
      const p = `${at}${v.case === 'addNextHop' ? 'add' : 'update'}_next_hop.next_hop.`;
      return { op: { kind: 'nh', action: v.case === 'addNextHop' ? 'add' : 'update', spec: nextHopSpecFromProto(v.value.nextHop, p) }, at: p, renames: NH_RENAMES };
    }
    case 'deleteNextHop':
      return { op: { kind: 'nh', action: 'delete', id: v.value.id }, at: `${at}delete_next_hop.`, renames: NH_RENAMES };
    case 'addRoute':
    case 'updateRoute': {
      const p = `${at}${v.case === 'addRoute' ? 'add' : 'update'}_route.route.`;
      return { op: { kind: 'route', action: v.case === 'addRoute' ? 'add' : 'update', spec: routeFromProto(v.value.route, p) }, at: p, renames: ROUTE_RENAMES };
    }
    case 'deleteRoute': {
      const p = `${at}delete_route.`;
      return { op: { kind: 'route', action: 'delete', key: routeKeyFromProto(v.value, p) }, at: p, renames: ROUTE_RENAMES };
    }
    case 'setFlow': {
      const p = `${at}set_flow.flow.`;
      return { op: { kind: 'flow', action: 'set', spec: flowSpecFromProto(v.value.flow, p) }, at: p, renames: FLOW_RENAMES };
    }
    case 'deleteFlow': {
      const p = `${at}delete_flow.`;
      return { op: { kind: 'flow', action: 'delete', key: flowKeyFromProto(v.value.key, `${p}key.`) }, at: p, renames: FLOW_RENAMES };
    }
    case 'addLabel':
    case 'updateLabel': {
      const p = `${at}${v.case === 'addLabel' ? 'add' : 'update'}_label.label.`;
      return { op: { kind: 'mpls', action: v.case === 'addLabel' ? 'add' : 'update', entry: labelFromProto(v.value.label, p) }, at: p, renames: LABEL_RENAMES };
    }
    case 'deleteLabel':
      return { op: { kind: 'mpls', action: 'delete', key: v.value.label }, at: `${at}delete_label.`, renames: LABEL_RENAMES };
    case 'addVni':
    case 'updateVni': {
      const p = `${at}${v.case === 'addVni' ? 'add' : 'update'}_vni.vni.`;
      return { op: { kind: 'vxlan', action: v.case === 'addVni' ? 'add' : 'update', entry: vniFromProto(v.value.vni, p) }, at: p, renames: VNI_RENAMES };
    }
    case 'deleteVni':
      return { op: { kind: 'vxlan', action: 'delete', key: v.value.vni }, at: `${at}delete_vni.`, renames: VNI_RENAMES };
    case 'addBridgeEntry':
    case 'updateBridgeEntry': {
      const p = `${at}${v.case === 'addBridgeEntry' ? 'add' : 'update'}_bridge_entry.entry.`;
      return { op: { kind: 'bridge', action: v.case === 'addBridgeEntry' ? 'add' : 'update', entry: bridgeFromProto(v.value.entry, p) }, at: p, renames: BRIDGE_RENAMES };
    }
    case 'deleteBridgeEntry': {
      const p = `${at}delete_bridge_entry.`;
      return { op: { kind: 'bridge', action: 'delete', key: bridgeKeyFromProto(v.value, p) }, at: p, renames: BRIDGE_RENAMES };
    }
    case 'addCompositeMember':
    case 'removeCompositeMember': {
      const add = v.case === 'addCompositeMember';
      return {
        op: { kind: 'member', action: add ? 'add' : 'delete', id: v.value.id, member: v.value.memberId },
        at: `${at}${add ? 'add' : 'remove'}_composite_member.`,
        renames: NH_RENAMES,
      };
    }
    default:
      throw invalid(at.replace(/\.$/, ''), 'no operation set');
  }
}

/** placeOpError: a manager error of one op, its field turned into the request's path. */
export function placeOpError(err: unknown, p: ParsedOp): unknown {
  if (err instanceof DatapathError) err.index = undefined;
  return place(err, () => p.at, p.renames);
}

type StepResultInit = MessageInitShape<typeof StepResultSchema>;

/** stepResult: a failure as a StepResult (code, message with the field first, field). */
export function stepResult(seq: bigint, err: unknown): StepResultInit {
  const se = toServiceError(err);
  return { seq, code: se.code, message: se.details, field: err instanceof DatapathError ? (err.field ?? '') : '' };
}
