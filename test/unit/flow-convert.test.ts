/**
 * The flow API's edge: key and spec parsing (fields named in the request's
 * terms), entries back to messages, page tokens (opaque, refused with
 * other filters or when forged) and the miss stream's start options.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { FlowAction, FlowSpecSchema, WatchFlowMissesStartSchema } from '../../src/gen/vrouter/ebpf/v1/flow_pb.js';
import { flowKeyFromProto, flowSpecFromProto, flowToProto } from '../../src/api/convert/flow.ts';
import { decodePageToken, encodePageToken, filterHash } from '../../src/api/convert/page-token.ts';
import { startOptions } from '../../src/api/services/flow-watch.ts';
import { DatapathError } from '../../src/manager/errors.ts';
import { reverseNat, reverseOf } from '../../src/manager/flow-model.ts';
import { flowOf } from '../../src/maps/tables/flow-table.ts';
import { fkey } from '../helpers/flow-suite.ts';

const field = (f: string) => (e: unknown) => e instanceof DatapathError && e.code === 'invalid_argument' && e.field === f;

describe('flow messages', () => {
  it('a spec parses with its family from the source and its fields placed', () => {
    const s = flowSpecFromProto(create(FlowSpecSchema, {
      key: { vrf: 3, protocol: 17, srcIp: 'fd00::1', dstIp: 'fd00::2', srcPort: 5, dstPort: 53 },
      action: FlowAction.NAT, nat: { dstIp: 'fd00::9', dstPort: 5353 }, reverseAction: FlowAction.DROP,
    }), 'flow.');
    assert.deepEqual([s.key.family, s.key.src.length, s.action, s.reverseAction, s.nat?.dport, s.nat?.src], [6, 16, 'nat', 'drop', 5353, undefined]);
    assert.throws(() => flowKeyFromProto(undefined, 'flow.key.'), field('flow.key'));
    assert.throws(() => flowKeyFromProto(create(FlowSpecSchema, { key: { srcIp: '1.2.3.4', dstIp: '' } }).key, 'key.'), field('key.dst_ip'));
    assert.throws(() => flowSpecFromProto(create(FlowSpecSchema, { key: { srcIp: '1.2.3.4', dstIp: '1.2.3.5' }, action: 7 as FlowAction }), 'flows[2].'), field('flows[2].action'));
  });

  it('an entry goes back with its reverse key, NAT, age and idle time', () => {
    const k = fkey(1, 6, '10.0.0.1', 1000, '10.0.0.2', 80);
    const nat = { src: Buffer.from([192, 0, 2, 1]), sport: 4000 };
    const f = flowOf(k, {
      action: 3, flags: 1, holdCount: 0, tcpFlags: 0x12, holdId: 5n, createdNs: 1_000_000_000n, lastNs: 2_000_000_000n, packets: 1n, bytes: 2n,
      natSrc: Buffer.concat([nat.src, Buffer.alloc(12)]), natDst: Buffer.alloc(16), natSport: 4000, natDport: 0,
    });
    const m = flowToProto(f, 5_000_000_000n);
    assert.deepEqual([m.action, m.nat?.srcIp, m.nat?.srcPort, m.reverseKey?.dstIp, m.reverseKey?.dstPort, m.ageMs, m.idleMs], [FlowAction.NAT, '192.0.2.1', 4000, '192.0.2.1', 4000, 4000n, 3000n]);
    assert.deepEqual(reverseOf(reverseOf(k, nat), reverseNat(k, nat)), k, 'the reverse of the reverse is the key');
  });
});

describe('page tokens', () => {
  it('round trip; refused with other filters, forged or cut', () => {
    const h = filterHash('1|||');
    for (const c of [{ at: null, skip: 3 }, { at: Buffer.from('0a000000', 'hex'), skip: 0 }]) assert.deepEqual(decodePageToken(encodePageToken(c, h), h, 'page_token'), c);
    const t = encodePageToken({ at: Buffer.alloc(4), skip: 0 }, h);
    assert.throws(() => decodePageToken(t, filterHash('2|||'), 'page_token'), field('page_token'));
    for (const bad of ['', 'AAAA', t.slice(0, 5), `${t}!`, 'A'.repeat(200)]) assert.throws(() => decodePageToken(bad, h, 'page_token'), field('page_token'), bad);
  });
});

describe('WatchFlowMisses start options', () => {
  it('defaults for zeros, bounds named', () => {
    assert.deepEqual(startOptions(create(WatchFlowMissesStartSchema, {})), { window: undefined, maxBatch: undefined, flushMs: undefined });
    assert.deepEqual(startOptions(create(WatchFlowMissesStartSchema, { window: 8, maxBatch: 4, flushUs: 500 })), { window: 8, maxBatch: 4, flushMs: 0.5 });
    assert.throws(() => startOptions(create(WatchFlowMissesStartSchema, { window: 2 ** 21 })), field('start.window'));
    assert.throws(() => startOptions(create(WatchFlowMissesStartSchema, { maxBatch: 5000 })), field('start.max_batch'));
    assert.throws(() => startOptions(create(WatchFlowMissesStartSchema, { flushUs: 2_000_000 })), field('start.flush_us'));
  });
});
