/** BridgeEntry messages ⇄ bridge entries, and ListBridgeEntries page tokens. */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { BridgeEntry as BridgeEntryMsg, BridgeEntrySchema } from '../../gen/vrouter/ebpf/v1/bridge_pb.js';
import { invalid, quote } from '../../manager/errors.ts';
import type { BridgeEntry, BridgeKey } from '../../manager/model.ts';
import { formatMac } from '../../manager/net-addr.ts';
import type { Renames } from './locate.ts';

export const BRIDGE_RENAMES: Renames = { nhId: 'next_hop_id' };

/** parseBridgeMac: any MAC a frame is sent to, broadcast and multicast included (not all-zero). */
export function parseBridgeMac(s: string, field: string): Buffer {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(s.trim());
  if (!m) throw invalid(field, `not a MAC address: ${quote(s)} (want aa:bb:cc:dd:ee:ff)`);
  const mac = Buffer.from(m.slice(1).map((h) => parseInt(h, 16)));
  if (mac.equals(Buffer.alloc(6))) throw invalid(field, 'the all-zero MAC address is not one a frame is sent to');
  return mac;
}

/** bridgeFromProto: `at` is the message's path in the request ("entry."). */
export function bridgeFromProto(m: BridgeEntryMsg | undefined, at: string): BridgeEntry {
  if (!m) throw invalid(at.replace(/\.$/, ''), 'the bridge entry is required');
  return { vrf: m.vrf, mac: parseBridgeMac(m.mac, `${at}mac`), nhId: m.nextHopId, label: m.label };
}

/** bridgeKeyFromProto: a request's vrf and mac; `at` is its path ("", "op.delete_bridge_entry."). */
export function bridgeKeyFromProto(m: { vrf: number; mac: string }, at: string): BridgeKey {
  return { vrf: m.vrf, mac: parseBridgeMac(m.mac, `${at}mac`) };
}

export function bridgeToProto(e: BridgeEntry): MessageInitShape<typeof BridgeEntrySchema> {
  return { vrf: e.vrf, mac: formatMac(e.mac), nextHopId: e.nhId, ...(e.label !== undefined ? { label: e.label } : {}) };
}

const TOKEN_VERSION = 1;

/** encodeBridgeToken: the page's last key and the VRF filter (0xffffffff: none) */
export function encodeBridgeToken(last: BridgeKey, vrf: number | undefined): string {
  const b = Buffer.alloc(15);
  b[0] = TOKEN_VERSION;
  b.writeUInt32BE(vrf ?? 0xffffffff, 1);
  b.writeUInt32BE(last.vrf, 5);
  last.mac.copy(b, 9);
  return b.toString('base64url');
}

/** decodeBridgeToken: the key a page starts after; INVALID_ARGUMENT for a token not made for this filter. */
export function decodeBridgeToken(s: string, vrf: number | undefined, field: string): BridgeKey {
  const b = /^[A-Za-z0-9_-]{1,40}$/.test(s) ? Buffer.from(s, 'base64url') : Buffer.alloc(0);
  if (b.length !== 15 || b[0] !== TOKEN_VERSION) throw invalid(field, 'not a page token of ListBridgeEntries (pass next_page_token as it came)');
  if (b.readUInt32BE(1) !== (vrf ?? 0xffffffff)) throw invalid(field, 'this token was made for another vrf filter: page with the filter of the first call');
  return { vrf: b.readUInt32BE(5), mac: Buffer.from(b.subarray(9, 15)) };
}
