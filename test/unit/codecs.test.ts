import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NH, VIF, decodeMeta, decodeRouteKey, decodeRt, encodeMeta, encodeRouteKey, encodeRt } from '../../src/maps/codecs.ts';

describe('codecs', () => {
  it('route keys: prefixlen counts the VRF bits, the VRF is big-endian', () => {
    const k = encodeRouteKey({ vrf: 0x01020304, addr: Buffer.from([10, 1, 0, 0]), plen: 16 });
    assert.equal(k.toString('hex'), '30000000' + '01020304' + '0a010000');
    assert.deepEqual(decodeRouteKey(k), { vrf: 0x01020304, addr: Buffer.from([10, 1, 0, 0]), plen: 16 });
    assert.equal(encodeRouteKey({ vrf: 1, addr: Buffer.alloc(16), plen: 128 }).length, 24);
  });
  it('round-trips vifs, next hops, routes and meta', () => {
    const vif = { vifIdx: 7, vrf: 3, flags: 3, mtu: 9000, type: 4, attachMode: 3, hookPolicy: 2, mac: Buffer.from('020000000001', 'hex'), ip4: Buffer.from([10, 0, 0, 1]), ip6: Buffer.alloc(16, 1) };
    assert.deepEqual(VIF.decode(VIF.encode(vif)), vif);
    const nh = { type: 2, oifState: 1, flags: 0, oifIfindex: 12, oifVif: 7, dmac: Buffer.from('02aa00000001', 'hex'), smac: Buffer.from('020000000001', 'hex'), vrf: 3, oifMtu: 1400 };
    assert.deepEqual(NH.decode(NH.encode(nh)), nh);
    const rt = { nhId: 99, flags: 1, plen: 24, label: 0x123456 };
    assert.deepEqual(decodeRt(encodeRt(rt)), rt);
    assert.equal(encodeRt(rt).toString('hex'), '63000000' + '0100' + '18' + '00' + '56341200', 'vr_rt v2 bytes: nh_id, flags, plen, pad, label');
    const meta = { magic: 0x76726562, layoutVersion: 1, loadedAtNs: 123n };
    assert.deepEqual(decodeMeta(encodeMeta(meta)), meta);
  });
});
