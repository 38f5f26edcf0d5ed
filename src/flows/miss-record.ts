/**
 * miss-record: one vr_miss_rb record (struct vr_miss, then cap_len bytes of
 * the frame) decoded, with the frame copied out of the reader's batch (a
 * kept view would pin the whole batch buffer). encodeMiss builds records
 * for tests and tools.
 */
import { MISS } from '../maps/codecs.ts';
import { EventType, MISS_F } from '../maps/layout.ts';
import type { FlowKey } from '../manager/flow-model.ts';
import { decodeFlowKey, encodeFlowKey } from './flow-bytes.ts';

export type Hook = 'xdp' | 'tc';

export interface MissRecord {
  hook: Hook;
  /** VR_MISS_F_NEW: the miss that made the HOLD entry */
  isNew: boolean;
  /** VR_MISS_F_HELD: the datapath consumed the packet; `frame` is ours to re-inject */
  held: boolean;
  ifindex: number;
  vifIdx: number;
  pktLen: number;
  holdId: bigint;
  tsNs: bigint;
  key: FlowKey;
  /** the 44 key bytes as the map keys them */
  keyBytes: Buffer;
  /** the frame's first cap_len bytes (a copy) */
  frame: Buffer;
}

export const MISS_HDR = MISS.size;
const KEY_OFF = MISS.fields.key.off;
const KEY_LEN = 44;

/** decodeMiss: a record's bytes; undefined when it is not a whole MISS record. */
export function decodeMiss(rec: Uint8Array): MissRecord | undefined {
  if (rec.length < MISS_HDR) return undefined;
  const b = Buffer.from(rec.buffer, rec.byteOffset, rec.byteLength);
  const h = MISS.decode(b);
  if (h.type !== EventType.MISS || MISS_HDR + h.capLen > b.length || (h.hook !== 0 && h.hook !== 1)) return undefined;
  const keyBytes = Buffer.from(b.subarray(KEY_OFF, KEY_OFF + KEY_LEN));
  return {
    hook: h.hook === 1 ? 'tc' : 'xdp',
    isNew: (h.flags & MISS_F.NEW) !== 0,
    held: (h.flags & MISS_F.HELD) !== 0,
    ifindex: h.ifindex,
    vifIdx: h.vifIdx,
    pktLen: h.pktLen,
    holdId: h.holdId,
    tsNs: h.tsNs,
    key: decodeFlowKey(keyBytes),
    keyBytes,
    frame: Buffer.from(b.subarray(MISS_HDR, MISS_HDR + h.capLen)),
  };
}

export interface MissInit {
  hook?: Hook;
  isNew?: boolean;
  held?: boolean;
  ifindex: number;
  vifIdx?: number;
  holdId: bigint;
  tsNs?: bigint;
  key: FlowKey;
  frame: Buffer;
  /** default the frame's length */
  pktLen?: number;
}

/** encodeMiss: a record as the datapath writes it. */
export function encodeMiss(m: MissInit): Buffer {
  const b = Buffer.alloc(MISS_HDR + m.frame.length);
  MISS.encode({
    type: EventType.MISS,
    hook: m.hook === 'tc' ? 1 : 0,
    flags: (m.isNew ?? true ? MISS_F.NEW : 0) | (m.held ?? true ? MISS_F.HELD : 0),
    ifindex: m.ifindex,
    vifIdx: m.vifIdx ?? 0,
    pktLen: m.pktLen ?? m.frame.length,
    holdId: m.holdId,
    tsNs: m.tsNs ?? process.hrtime.bigint(),
    key: encodeFlowKey(m.key),
    capLen: m.frame.length,
  }, b);
  m.frame.copy(b, MISS_HDR);
  return b;
}
