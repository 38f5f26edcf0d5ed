/**
 * flow-bytes: vr_flows keys and values (codecs FLOW_KEY / FLOW) as the
 * daemon's words (flow-model.ts FlowKey / Flow), and back for keys.
 */
import { FLOW } from '../maps/codecs.ts';
import { decodeFlowKey, encodeFlowKey, flowOf } from '../maps/tables/flow-table.ts';
import { reverseOf, type Flow, type FlowKey } from '../manager/flow-model.ts';

/** the key codec and the entry's decoding are the flow table's (one codec per struct) */
export { encodeFlowKey, decodeFlowKey };

/** flowActionCode: the action byte of a vr_flow value, without decoding the rest. */
export function flowActionCode(value: Buffer, at = 0): number {
  return value[at + FLOW.fields.action.off]!;
}

/** decodeFlow: one entry of vr_flows as a Flow. */
export function decodeFlow(key: FlowKey, value: Buffer, at = 0): Flow {
  return flowOf(key, FLOW.decode(value, at));
}

/** holdFlow: what a hold looked like when its entry is gone (no counters). */
export function holdFlow(key: FlowKey, holdId: bigint, held: number): Flow {
  return {
    key, action: 'hold', nat: undefined, reverse: false, reverseKey: reverseOf(key), holdId, holdCount: held,
    tcpFlags: 0, packets: 0n, bytes: 0n, createdNs: 0n, lastNs: 0n,
  };
}
