/**
 * completeChecksum: a frame whose TCP / UDP / ICMPv6 checksum field holds
 * only the pseudo-header's sum (CHECKSUM_PARTIAL, as Linux leaves it for
 * the device) gets the full checksum, equal to the one computed here
 * independently (test/helpers/packets.ts csum16 over the pseudo-header and
 * segment); right checksums, UDP/IPv4 without one, fragments and corrupt
 * ones are left as they are. test/bpf/flow-reinject.test.ts checks the same
 * against frames the kernel itself wrote.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { completeChecksum, fold, sum16 } from '../../src/flows/checksum.ts';
import { csum16, eth, ip, ipv4, ipv6, udp } from '../helpers/packets.ts';

const SRC_MAC = '02:aa:00:00:00:01';
const DST_MAC = '02:00:00:00:01:01';

function pseudo4(src: string, dst: string, proto: number, len: number): Buffer {
  const p = Buffer.alloc(12);
  ip(src).copy(p, 0);
  ip(dst).copy(p, 4);
  p[9] = proto;
  p.writeUInt16BE(len, 10);
  return p;
}

function pseudo6(src: string, dst: string, proto: number, len: number): Buffer {
  const p = Buffer.alloc(40);
  ip(src).copy(p, 0);
  ip(dst).copy(p, 16);
  p.writeUInt32BE(len, 32);
  p[39] = proto;
  return p;
}

function tcp(sport: number, dport: number, payload: Buffer, flags = 0x18): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(0x01020304, 4);
  h.writeUInt32BE(0x0a0b0c0d, 8);
  h[12] = 5 << 4;
  h[13] = flags;
  h.writeUInt16BE(64240, 14);
  return Buffer.concat([h, payload]);
}

const CSUM_AT: Record<number, number> = { 6: 16, 17: 6, 58: 2 };

/**
 * segment: an L4 segment with its checksum field set: 'full' (right),
 * 'partial' (the pseudo-header's folded sum, not inverted: what
 * `~csum_tcpudp_magic(...)` leaves). Returns the segment and the right checksum.
 */
function segment(l4: Buffer, proto: number, pseudo: Buffer, state: 'full' | 'partial'): { seg: Buffer; right: number } {
  const seg = Buffer.from(l4);
  const at = CSUM_AT[proto]!;
  seg.writeUInt16BE(0, at);
  let right = csum16(Buffer.concat([pseudo, seg]));
  if (right === 0 && proto === 17) right = 0xffff;
  seg.writeUInt16BE(state === 'full' ? right : ~csum16(pseudo) & 0xffff, at);
  return { seg, right };
}

function frame4(proto: number, l4: Buffer, state: 'full' | 'partial', opts: { frag?: number } = {}): { f: Buffer; right: number; at: number } {
  const { seg, right } = segment(l4, proto, pseudo4('10.1.1.2', '10.1.2.5', proto, l4.length), state);
  const f = eth(DST_MAC, SRC_MAC, 0x0800, ipv4('10.1.1.2', '10.1.2.5', proto, seg));
  if (opts.frag) {
    f.writeUInt16BE(opts.frag, 14 + 6);
    f.writeUInt16BE(0, 14 + 10);
    f.writeUInt16BE(csum16(f.subarray(14, 34)), 14 + 10);
  }
  return { f, right, at: 14 + 20 + CSUM_AT[proto]! };
}

function frame6(proto: number, l4: Buffer, state: 'full' | 'partial', ext?: Buffer): { f: Buffer; right: number; at: number } {
  const { seg, right } = segment(l4, proto, pseudo6('fd00:1:1::2', 'fd00:1:2::5', proto, l4.length), state);
  const payload = ext ? Buffer.concat([ext, seg]) : seg;
  const l3 = ipv6('fd00:1:1::2', 'fd00:1:2::5', ext ? 0 : proto, payload);
  return { f: eth(DST_MAC, SRC_MAC, 0x86dd, l3), right, at: 14 + 40 + (ext?.length ?? 0) + CSUM_AT[proto]! };
}

const payload = Buffer.from('the quick brown fox jumps over the lazy dog!'); // odd length: a padded last word
const icmp6Echo = Buffer.concat([Buffer.from([128, 0, 0, 0, 0x12, 0x34, 0, 1]), payload]);

describe('completeChecksum', () => {
  it('sum16 / fold: the RFC 1071 example (00 01 f2 03 f4 f5 f6 f7 sums to dd f2)', () => {
    assert.equal(fold(sum16(Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0, 8)), 0xddf2);
  });

  const cases = [
    { name: 'TCP over IPv4', build: (s: 'full' | 'partial') => frame4(6, tcp(40000, 80, payload), s) },
    { name: 'UDP over IPv4', build: (s: 'full' | 'partial') => frame4(17, udp(1000, 2000, payload), s) },
    { name: 'TCP over IPv6', build: (s: 'full' | 'partial') => frame6(6, tcp(40000, 443, payload), s) },
    { name: 'UDP over IPv6', build: (s: 'full' | 'partial') => frame6(17, udp(1000, 2000, payload), s) },
    { name: 'ICMPv6 echo', build: (s: 'full' | 'partial') => frame6(58, icmp6Echo, s) },
    {
      name: 'UDP over IPv6 after a hop-by-hop header',
      build: (s: 'full' | 'partial') => frame6(17, udp(1000, 2000, payload), s, Buffer.from([17, 0, 1, 4, 0, 0, 0, 0])),
    },
  ];
  for (const c of cases) {
    it(`${c.name}: a partial checksum is completed to the independent one`, () => {
      const { f, right, at } = c.build('partial');
      const before = Buffer.from(f);
      assert.equal(completeChecksum(f), 'completed');
      assert.equal(f.readUInt16BE(at), right);
      f.writeUInt16BE(before.readUInt16BE(at), at);
      assert.deepEqual(f, before, 'only the checksum field changes');
    });
    it(`${c.name}: a right checksum is left alone`, () => {
      const { f } = c.build('full');
      const before = Buffer.from(f);
      assert.equal(completeChecksum(f), 'ok');
      assert.deepEqual(f, before);
    });
  }

  it('a checksum neither right nor partial is left alone (a corrupt packet stays corrupt)', () => {
    const { f, at } = frame4(6, tcp(40000, 80, payload), 'full');
    f.writeUInt16BE(f.readUInt16BE(at) ^ 0x0101, at);
    const before = Buffer.from(f);
    assert.equal(completeChecksum(f), 'bad');
    assert.deepEqual(f, before);
  });

  it('UDP over IPv4 with checksum 0 has none, and keeps none', () => {
    const f = eth(DST_MAC, SRC_MAC, 0x0800, ipv4('10.1.1.2', '10.1.2.5', 17, udp(1000, 2000, payload)));
    assert.equal(completeChecksum(f), 'none');
    assert.equal(f.readUInt16BE(14 + 20 + 6), 0);
  });

  it('UDP whose full checksum computes to 0 is sent as 0xffff', () => {
    // choose two payload bytes so that the segment sums to 0xffff: the checksum is then 0
    const body = Buffer.alloc(16, 0x5a);
    body.writeUInt16BE(0, 0);
    const probe = segment(udp(1000, 2000, body), 17, pseudo4('10.1.1.2', '10.1.2.5', 17, 24), 'full');
    body.writeUInt16BE(probe.right === 0xffff ? 0 : probe.right, 0);
    const { f, right, at } = frame4(17, udp(1000, 2000, body), 'partial');
    assert.equal(right, 0xffff, 'the test payload makes a zero checksum');
    assert.equal(completeChecksum(f), 'completed');
    assert.equal(f.readUInt16BE(at), 0xffff);
  });

  it('Ethernet padding after the IP packet is not summed', () => {
    const { f, right, at } = frame4(17, udp(1000, 2000, Buffer.from('tiny')), 'partial');
    const padded = Buffer.concat([f, Buffer.alloc(60 - f.length, 0xee)]);
    assert.equal(completeChecksum(padded), 'completed');
    assert.equal(padded.readUInt16BE(at), right);
  });

  it('a VLAN-tagged frame is read past its tag', () => {
    const { f, right, at } = frame4(6, tcp(1, 2, payload), 'partial');
    const tagged = Buffer.concat([f.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x05]), f.subarray(12)]);
    assert.equal(completeChecksum(tagged), 'completed');
    assert.equal(tagged.readUInt16BE(at + 4), right);
  });

  it('fragments, cut packets and other protocols are not touched', () => {
    const frag = frame4(17, udp(1000, 2000, payload), 'partial', { frag: 0x2000 }).f; // MF
    const before = Buffer.from(frag);
    assert.equal(completeChecksum(frag), 'none');
    assert.deepEqual(frag, before);
    const { f } = frame4(6, tcp(1, 2, payload), 'partial');
    assert.equal(completeChecksum(f.subarray(0, f.length - 1)), 'none', 'IP total length beyond the frame');
    assert.equal(completeChecksum(eth(DST_MAC, SRC_MAC, 0x0806, Buffer.alloc(28))), 'none', 'ARP');
    assert.equal(completeChecksum(Buffer.alloc(10)), 'none', 'not even an Ethernet header');
  });
});
