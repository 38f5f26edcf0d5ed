/** MplsLabel / Vni messages ⇄ decap entries (the label and VNI tables). */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { MplsLabel, MplsLabelSchema } from '../../gen/vrouter/ebpf/v1/mpls_pb.js';
import type { Vni, VniSchema } from '../../gen/vrouter/ebpf/v1/vxlan_pb.js';
import { invalid } from '../../manager/errors.ts';
import type { DecapEntry } from '../../manager/model.ts';
import type { Renames } from './locate.ts';

export const LABEL_RENAMES: Renames = { key: 'label', nhId: 'next_hop_id' };
export const VNI_RENAMES: Renames = { key: 'vni', nhId: 'next_hop_id' };

/** labelFromProto: `at` is the message's path in the request ("label."). */
export function labelFromProto(m: MplsLabel | undefined, at: string): DecapEntry {
  if (!m) throw invalid(at.replace(/\.$/, ''), 'the label entry is required');
  return { key: m.label, nhId: m.nextHopId };
}

export function labelToProto(e: DecapEntry): MessageInitShape<typeof MplsLabelSchema> {
  return { label: e.key, nextHopId: e.nhId };
}

/** vniFromProto: `at` is the message's path in the request ("vni."). */
export function vniFromProto(m: Vni | undefined, at: string): DecapEntry {
  if (!m) throw invalid(at.replace(/\.$/, ''), 'the VNI entry is required');
  return { key: m.vni, nhId: m.nextHopId };
}

export function vniToProto(e: DecapEntry): MessageInitShape<typeof VniSchema> {
  return { vni: e.key, nextHopId: e.nhId };
}
