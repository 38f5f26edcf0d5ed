import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NH, VIF, decodeMeta, decodeRouteKey, decodeRt, encodeMeta, encodeRouteKey, encodeRt, nhValue } from '../../src/maps/codecs.ts';

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
    const nh = nhValue({ type: 2, oifState: 1, oifIfindex: 12, oifVif: 7, dmac: Buffer.from('02aa00000001', 'hex'), smac: Buffer.from('020000000001', 'hex'), vrf: 3, oifMtu: 1400 });
    assert.deepEqual(NH.decode(NH.encode(nh)), nh);
    const tun = nhValue({
      type: 3, oifState: 1, oifIfindex: 5, oifVif: 9, vrf: 2, oifMtu: 1500, tunType: 3, tunFamily: 4,
      tunSip: Buffer.from([192, 0, 2, 1, ...Array(12).fill(0)]), tunDip: Buffer.from([192, 0, 2, 2, ...Array(12).fill(0)]), label: 0xabcdef,
    });
    assert.deepEqual(NH.decode(NH.encode(tun)), tun);
    const b = NH.encode(tun);
    assert.deepEqual([b[30], b[31], b.readUInt32BE(32), b.readUInt32BE(48), b.readUInt32LE(64)], [3, 4, 0xc0000201, 0xc0000202, 0xabcdef], 'vr_nh v5 tunnel fields');
    const rt = { nhId: 99, flags: 1, plen: 24, label: 0x123456 };
    assert.deepEqual(decodeRt(encodeRt(rt)), rt);
    assert.equal(encodeRt(rt).toString('hex'), '63000000' + '0100' + '18' + '00' + '56341200', 'vr_rt v2 bytes: nh_id, flags, plen, pad, label');
    const meta = { magic: 0x76726562, layoutVersion: 1, loadedAtNs: 123n };
    assert.deepEqual(decodeMeta(encodeMeta(meta)), meta);
  });
});
