/**
 * rtnetlink messages as the kernel lays them out (nlmsghdr, the family's
 * header, attributes padded to 4 bytes), parsed into events; what is short,
 * truncated or of another family is skipped, never thrown on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, parseRtnetlink, RTM } from '../../src/bpf/rtnetlink-parse.ts';

function nla(type: number, payload: Buffer): Buffer {
  const b = Buffer.alloc((4 + payload.length + 3) & ~3);
  b.writeUInt16LE(4 + payload.length, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

function msg(type: number, header: Buffer, ...attrs: Buffer[]): Buffer {
  const body = Buffer.concat([header, ...attrs]);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(type, 4);
  return Buffer.concat([h, body]);
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
};
const cstr = (s: string) => Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);
const ip4 = (s: string) => Buffer.from(s.split('.').map(Number));

function ifinfo(ifindex: number, flags: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(ifindex, 4);
  b.writeUInt32LE(flags, 8);
  return b;
}

describe('parseRtnetlink', () => {
  it('RTM_NEWLINK: name, flags, operational state (IFF_UP and IFF_RUNNING)', () => {
    const up = msg(RTM.NEWLINK, ifinfo(7, 0x1 | 0x40 | 0x1000), nla(3, cstr('veth-p1')), nla(16, Buffer.from([6])));
    const noCarrier = msg(RTM.NEWLINK, ifinfo(7, 0x1 | 0x1000), nla(3, cstr('veth-p1')), nla(16, Buffer.from([3])));
    const down = msg(RTM.NEWLINK, ifinfo(7, 0x1000), nla(3, cstr('veth-p1')), nla(16, Buffer.from([2])));
    assert.deepEqual(parseRtnetlink(Buffer.concat([up, noCarrier, down])), [
      { kind: 'link', deleted: false, ifindex: 7, name: 'veth-p1', flags: 0x1041, adminUp: true, operUp: true, operState: 'up' },
      { kind: 'link', deleted: false, ifindex: 7, name: 'veth-p1', flags: 0x1001, adminUp: true, operUp: false, operState: 'lowerlayerdown' },
      { kind: 'link', deleted: false, ifindex: 7, name: 'veth-p1', flags: 0x1000, adminUp: false, operUp: false, operState: 'down' },
    ]);
  });

  it('RTM_DELLINK, without IFLA_OPERSTATE', () => {
    assert.deepEqual(parseRtnetlink(msg(RTM.DELLINK, ifinfo(9, 0), nla(3, cstr('gone0')))), [
      { kind: 'link', deleted: true, ifindex: 9, name: 'gone0', flags: 0, adminUp: false, operUp: false, operState: 'unknown' },
    ]);
  });

  it('RTM_NEWADDR / DELADDR: IFA_LOCAL before IFA_ADDRESS; IPv6', () => {
    const a4 = Buffer.from([2, 24, 0, 0, 5, 0, 0, 0]);
    const a6 = Buffer.from([10, 64, 0, 0, 5, 0, 0, 0]);
    const v6 = Buffer.alloc(16);
    v6.writeUInt16BE(0xfd00, 0);
    v6[15] = 1;
    assert.deepEqual(parseRtnetlink(Buffer.concat([
      msg(RTM.NEWADDR, a4, nla(1, ip4('10.0.0.2')), nla(2, ip4('10.0.0.1'))),
      msg(RTM.DELADDR, a6, nla(1, v6)),
    ])), [
      { kind: 'addr', deleted: false, family: 4, prefixLen: 24, ifindex: 5, address: '10.0.0.1' },
      { kind: 'addr', deleted: true, family: 6, prefixLen: 64, ifindex: 5, address: 'fd00::1' },
    ]);
  });

  it('RTM_NEWNEIGH: address, MAC, NUD state; AF_BRIDGE entries skipped', () => {
    const nd = (family: number, state: number) => {
      const b = Buffer.alloc(12);
      b[0] = family;
      b.writeInt32LE(3, 4);
      b.writeUInt16LE(state, 8);
      return b;
    };
    const mac = Buffer.from([2, 0, 0, 0, 0, 9]);
    assert.deepEqual(parseRtnetlink(Buffer.concat([
      msg(RTM.NEWNEIGH, nd(2, 0x02), nla(1, ip4('192.0.2.9')), nla(2, mac)),
      msg(RTM.NEWNEIGH, nd(7, 0x80), nla(2, mac)),
      msg(RTM.DELNEIGH, nd(2, 0x20), nla(1, ip4('192.0.2.10'))),
    ])), [
      { kind: 'neigh', deleted: false, family: 4, ifindex: 3, address: '192.0.2.9', lladdr: '02:00:00:00:00:09', state: 'reachable' },
      { kind: 'neigh', deleted: true, family: 4, ifindex: 3, address: '192.0.2.10', lladdr: '', state: 'failed' },
    ]);
  });

  it('RTM_NEWROUTE / DELROUTE: prefix, table (RTA_TABLE over rtm_table), gateway, oif; a default route', () => {
    const rtm = (family: number, dstLen: number, table: number) => Buffer.from([family, dstLen, 0, 0, table, 3, 0, 1, 0, 0, 0, 0]);
    assert.deepEqual(parseRtnetlink(Buffer.concat([
      msg(RTM.NEWROUTE, rtm(2, 24, 254), nla(1, ip4('10.1.0.0')), nla(4, u32(4))),
      msg(RTM.DELROUTE, rtm(2, 0, 252), nla(15, u32(1000)), nla(5, ip4('10.0.0.254')), nla(4, u32(2))),
    ])), [
      { kind: 'route', deleted: false, family: 4, prefix: '10.1.0.0/24', table: 254, gateway: '', ifindex: 4 },
      { kind: 'route', deleted: true, family: 4, prefix: '0.0.0.0/0', table: 1000, gateway: '10.0.0.254', ifindex: 2 },
    ]);
  });

  it('NLMSG_OVERRUN is an overrun; NOOP, ERROR, DONE and unknown types are skipped', () => {
    const bare = (type: number) => msg(type, Buffer.alloc(4));
    assert.deepEqual(parseRtnetlink(Buffer.concat([bare(1), bare(2), bare(3), bare(4), bare(99)])), [{ kind: 'overrun' }]);
  });

  it('short, truncated and garbled input: what is whole, never a throw', () => {
    const good = msg(RTM.NEWLINK, ifinfo(1, 0x41), nla(3, cstr('lo')));
    assert.deepEqual(parseRtnetlink(Buffer.alloc(0)), []);
    assert.deepEqual(parseRtnetlink(good.subarray(0, good.length - 1)), []);
    assert.equal(parseRtnetlink(Buffer.concat([good, good.subarray(0, 20)])).length, 1);
    // a header too short for its family's struct
    assert.deepEqual(parseRtnetlink(msg(RTM.NEWLINK, Buffer.alloc(8))), []);
    // an attribute whose length runs past the message: the attributes stop there
    const bad = msg(RTM.NEWLINK, ifinfo(2, 0x41), Buffer.from([200, 0, 3, 0]));
    assert.equal((parseRtnetlink(bad)[0] as { name: string }).name, '');
    // a length below the header's ends the datagram
    const zero = Buffer.alloc(16);
    assert.deepEqual(parseRtnetlink(Buffer.concat([zero, good])), []);
  });
});

describe('formatIp', () => {
  it('IPv4, IPv6 with the longest zero run as ::, and nothing else', () => {
    const v6 = (...g: number[]) => {
      const b = Buffer.alloc(16);
      g.forEach((x, i) => b.writeUInt16BE(x, 2 * i));
      return b;
    };
    assert.equal(formatIp(ip4('192.0.2.1')), '192.0.2.1');
    assert.equal(formatIp(v6(0xfe80, 0, 0, 0, 1, 0, 0, 1)), 'fe80::1:0:0:1');
    assert.equal(formatIp(v6(0, 0, 0, 0, 0, 0, 0, 0)), '::');
    assert.equal(formatIp(v6(1, 0, 2, 0, 3, 0, 4, 5)), '1:0:2:0:3:0:4:5');
    assert.equal(formatIp(v6(0xff02, 0, 0, 0, 0, 1, 0xff20, 0x2334)), 'ff02::1:ff20:2334');
    assert.equal(formatIp(Buffer.alloc(5)), '');
    assert.equal(formatIp(undefined), '');
  });
});
