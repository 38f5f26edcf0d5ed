/**
 * SendPacket's two paths on the real kernel, through PacketIo on a real
 * datapath: OUT (an AF_PACKET socket on the host veth: the frame arrives
 * in the pod, a UDP socket bound there reads it) and INTO (the XDP entry
 * run live as if the frame arrived on vif 1: routed to pod 2, on both
 * hooks), and the kernel's refusals as domain errors. The test process
 * lives in a private network namespace; the pods are namespaces of a Lab
 * (unique names, removed even on failure).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { privateNetns } from '../helpers/private-netns.ts';
import { openTestDatapath } from '../helpers/datapath.ts';
import { encapNh, route as rt, vif as vifOf } from '../helpers/specs.ts';
import { eth, ipv4, udp } from '../helpers/packets.ts';
import { Lab } from '../../lab/topology.ts';
import { listenUdp, within } from '../helpers/udp-listen.ts';
import { PacketIo } from '../../src/packets/packet-io.ts';
import { DatapathError } from '../../src/manager/errors.ts';
import type { DatapathManager } from '../../src/manager/datapath-manager.ts';

const PORT = 5555;

interface PodEnd {
  ns: string;
  /** the host-side veth (in the test's namespace) */
  host: string;
  ip: string;
  mac: string;
  hostMac: string;
}

let lab: Lab;
let t: ReturnType<typeof openTestDatapath>;
let mgr: DatapathManager;
let io: PacketIo;
let pods: PodEnd[];

/** pod: a namespace whose eth0 (ip/24, up, GRO on) is a veth to `host` here (up). */
function pod(i: number, host: string): PodEnd {
  const ns = lab.ns(`pod${i}`);
  execFileSync('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  const ip = `10.20.${i}.2`;
  lab.sysctl(ns, 'net.ipv6.conf.all.disable_ipv6', '1'); // no chatter through the vifs
  lab.ip(ns, ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  lab.ip(ns, ['link', 'set', 'eth0', 'up']);
  lab.ip(ns, ['route', 'add', 'default', 'via', `10.20.${i}.1`, 'dev', 'eth0', 'onlink']);
  // an XDP-redirected frame needs GRO (or XDP) on the receiving veth end
  lab.exec(ns, 'ethtool', ['-K', 'eth0', 'gro', 'on', 'tx', 'off']);
  execFileSync('ip', ['link', 'set', host, 'up']);
  return { ns, host, ip, mac: lab.mac(ns, 'eth0'), hostMac: hostMacOf(host) };
}

function hostMacOf(dev: string): string {
  return (JSON.parse(execFileSync('ip', ['-j', 'link', 'show', dev], { encoding: 'utf8' })) as { address: string }[])[0]!.address;
}

const udpFrame = (dstMac: string, srcMac: string, src: string, dst: string, sport: number, text: string) =>
  eth(dstMac, srcMac, 0x0800, ipv4(src, dst, 17, udp(sport, PORT, Buffer.from(text))));

const rejectsWith = (fn: () => unknown, code: DatapathError['code'], field: string, msg?: RegExp) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DatapathError, String(e));
    assert.deepEqual([e.code, e.field], [code, field], e.message);
    if (msg) assert.match(e.message, msg);
    return true;
  });

before(async () => {
  privateNetns();
  lab = new Lab('vrsend');
  pods = [pod(1, 'sp1'), pod(2, 'sp2')];
  // a jumbo vif whose interface is down
  execFileSync('ip', ['link', 'add', 'sp3', 'mtu', '9000', 'type', 'veth', 'peer', 'name', 'sq3', 'mtu', '9000']);
  t = openTestDatapath();
  mgr = t.mgr;
  for (const [i, p] of pods.entries()) await mgr.addInterface(vifOf({ index: i + 1, type: 'virtual', name: p.host, vrf: 1 }));
  await mgr.addInterface(vifOf({ index: 3, type: 'virtual', name: 'sp3', vrf: 1 }));
  await mgr.addNextHop(encapNh(11, 1, 1, pods[0]!.mac));
  await mgr.addNextHop(encapNh(12, 1, 2, pods[1]!.mac));
  await mgr.addRoutes([rt(1, `${pods[0]!.ip}/32`, 11), rt(1, `${pods[1]!.ip}/32`, 12)]);
  io = PacketIo.open(t.dp, mgr.vifs);
});

after(async () => {
  await io?.close();
  t?.dispose();
  lab?.cleanup(); // the private namespace and its veths go with the process
});

describe('SendPacket OUT: out of a vif\'s kernel interface, as is', () => {
  it('a UDP datagram sent out of vif 1 reaches a socket bound in pod 1', async () => {
    const [p1] = pods as [PodEnd];
    const { got } = await listenUdp(lab, p1.ns, p1.ip, PORT);
    io.send(1, udpFrame(p1.mac, p1.hostMac, '10.20.1.1', p1.ip, 4000, 'out-hello'), 'out');
    assert.deepEqual(await within(got, 5000, 'datagram in pod 1'), { text: 'out-hello', from: '10.20.1.1:4000' });
  });
  it('does not go through the datapath: vif 1 counts nothing sent', () => {
    const [p1] = pods as [PodEnd];
    const before = mgr.interfaceStats(1).txPackets;
    for (let i = 0; i < 10; i++) io.send(1, udpFrame(p1.mac, p1.hostMac, '10.20.1.1', p1.ip, 4000, 'quiet'), 'out');
    assert.equal(mgr.interfaceStats(1).txPackets, before);
  });
});

describe('SendPacket INTO: through the datapath as received on a vif', () => {
  for (const hook of ['tc', 'xdp'] as const) {
    it(`a frame from pod 1 injected on vif 1 is routed to pod 2 (vifs on ${hook})`, async () => {
      await mgr.updateInterface(1, { hookPolicy: hook });
      await mgr.updateInterface(2, { hookPolicy: hook });
      const [p1, p2] = pods as [PodEnd, PodEnd];
      const { got } = await listenUdp(lab, p2.ns, p2.ip, PORT);
      const before = [mgr.interfaceStats(1).rxPackets, mgr.interfaceStats(2).txPackets];
      io.send(1, udpFrame(p1.hostMac, p1.mac, p1.ip, p2.ip, 4001, `into-${hook}`), 'into');
      assert.deepEqual(await within(got, 5000, 'datagram in pod 2'), { text: `into-${hook}`, from: `${p1.ip}:4001` });
      const after = [mgr.interfaceStats(1).rxPackets, mgr.interfaceStats(2).txPackets];
      assert.ok(after[0]! > before[0]! && after[1]! > before[1]!, `counted as received on vif 1 and sent out of vif 2: ${before} -> ${after}`);
    });
  }
});

describe('SendPacket refusals', () => {
  const f = (len: number) => {
    const b = udpFrame(pods[0]!.mac, pods[0]!.hostMac, '10.20.1.1', pods[0]!.ip, 1, '');
    return Buffer.concat([b, Buffer.alloc(Math.max(0, len - b.length))]).subarray(0, len);
  };
  it('an unknown vif, a frame too short or longer than the vif\'s MTU and an Ethernet header', () => {
    rejectsWith(() => io.send(9, f(60), 'out'), 'not_found', 'interfaceIndex');
    rejectsWith(() => io.send(1, f(13), 'out'), 'invalid_argument', 'frame', /13 bytes is not an Ethernet frame/);
    rejectsWith(() => io.send(1, f(1515), 'into'), 'invalid_argument', 'frame', /1515 bytes is more than vif 1 takes \(1514/);
    io.send(1, f(1514), 'out'); // the largest a 1500-byte MTU takes
  });
  it('the kernel\'s own: a live run of more than a page, an interface that is down', () => {
    rejectsWith(() => io.send(3, f(5000), 'into'), 'invalid_argument', 'frame', /live run takes at most about a page/);
    rejectsWith(() => io.send(3, f(5000), 'out'), 'failed_precondition', 'interfaceIndex', /sp3 .* is down/);
  });
});
