/**
 * End to end, the overlay without our datapath: three simulated hosts
 * (lab/multihost.ts), two pods behind each, every host a Linux router
 * whose path to the other hosts' pods is a vxlan device
 * (lab/linux-vxlan.ts), the router namespace forwarding the underlay. It
 * checks the multi-host lab itself, and is the reference the overlay bench
 * measures our datapath against:
 * - every pod reaches the pods of every other host, IPv4 and IPv6 inner
 *   over the IPv4 underlay; TCP arrives intact (sha256), through PMTU
 *   discovery (pods at MTU 1500, vx0 at 1450);
 * - the underlay carries VXLAN between the hosts' underlay addresses, as
 *   tshark reads a capture of it (VNI, outer and inner headers);
 * - a too-big DF packet is answered with frag-needed, MTU 1450.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab } from '../../lab/topology.ts';
import { buildMultiHost, podOf, type MultiHost } from '../../lab/multihost.ts';
import { DEFAULT_VNI, VXLAN_OVERHEAD, VXLAN_PORT, enableLinuxVxlan, vtepStats } from '../../lab/linux-vxlan.ts';
import { tcpTransferChecked } from '../helpers/transfer.ts';
import { UnderlayCapture } from '../helpers/underlay-capture.ts';

const XFER_BYTES = 4 * 1024 * 1024;

describe('overlay through Linux vxlan devices: three hosts, two pods each', () => {
  let lab: Lab;
  let t: MultiHost;

  before(() => {
    lab = new Lab('vrlvx');
    t = buildMultiHost(lab, { hosts: 3, podsPerHost: 2 });
    enableLinuxVxlan(lab, t);
  });

  after(() => lab?.cleanup());

  it('the lab: one namespace per host, pod and the router; each host a /32 route to the others via the router', () => {
    assert.equal(t.hosts.length, 3);
    assert.deepEqual(t.hosts.map((h) => h.pods.map((p) => `${p.ip4} ${p.ip6} vif ${p.vif}`)), [1, 2, 3].map((h) => [1, 2].map((p) => `10.1${h}.${p}.2 fd00:1${h}:${p}::2 vif ${p}`)));
    const routes = lab.ip(t.hosts[0]!.ns, ['route', 'show']);
    assert.match(routes, /172\.16\.2\.2 via 172\.16\.1\.1 dev fabric0/);
    assert.match(routes, /172\.16\.3\.2 via 172\.16\.1\.1 dev fabric0/);
  });

  it('every pod reaches a pod of every other host, IPv4 and IPv6', () => {
    for (const [a, b] of [[1, 2], [2, 3], [3, 1], [2, 1]] as const) {
      const from = podOf(t, a, 1, 2);
      const to = podOf(t, b, 1, 1);
      assert.equal(lab.ping(from.ns, to.ip4, 2).received, 2, `${from.ip4} -> ${to.ip4}`);
      assert.equal(lab.ping(from.ns, to.ip6, 2).received, 2, `${from.ip6} -> ${to.ip6}`);
    }
  });

  it('TCP across hosts arrives intact (sha256), IPv4 and IPv6, through PMTU discovery', async () => {
    const before1 = vtepStats(lab, t.hosts[0]!);
    await tcpTransferChecked(lab, podOf(t, 1), podOf(t, 2), 'ip4', XFER_BYTES);
    await tcpTransferChecked(lab, podOf(t, 3, 1, 2), podOf(t, 1, 1, 2), 'ip6', XFER_BYTES);
    const after1 = vtepStats(lab, t.hosts[0]!);
    assert.ok(after1.txBytes - before1.txBytes >= XFER_BYTES, `vx0 of host 1 carried the transfer (${after1.txBytes - before1.txBytes} bytes)`);
    assert.ok(after1.rxBytes - before1.rxBytes >= XFER_BYTES, `vx0 of host 1 received the other (${after1.rxBytes - before1.rxBytes} bytes)`);
  });

  it('tshark reads the underlay: VXLAN from host 1 to host 2, VNI, outer and inner headers', async () => {
    const [h1, h2] = t.hosts;
    const cap = await UnderlayCapture.start(lab, t.router, h2!.routerIf, `udp dst port ${VXLAN_PORT} and dst host ${h2!.fabricIp}`, { count: 2 });
    const src = podOf(t, 1, 1, 1);
    const dst = podOf(t, 2, 1, 2);
    lab.ping(src.ns, dst.ip4, 2);
    const frames = await cap.stop();
    const echo = frames.find((f) => f.ipDst[0] === h2!.fabricIp && f.protocols.join(':') === 'eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:icmp:data');
    assert.ok(echo, `an ICMP echo inside VXLAN: ${JSON.stringify(frames)}`);
    assert.deepEqual(echo.vni, [DEFAULT_VNI]);
    assert.deepEqual([echo.ipSrc, echo.ipDst], [[h1!.fabricIp, src.ip4], [h2!.fabricIp, dst.ip4]]);
    assert.equal(echo.udpDstPorts[0], VXLAN_PORT);
  });

  it(`a too-big DF packet gets frag-needed with MTU ${1500 - VXLAN_OVERHEAD}`, () => {
    // a pair that has not exchanged big packets yet: no PMTU cached
    const from = podOf(t, 2, 1, 2);
    const to = podOf(t, 3, 1, 2);
    const out = lab.exec(from.ns, 'ping', ['-c', '1', '-W', '1', '-M', 'do', '-s', String(1500 - 28), to.ip4], { allowFail: true });
    assert.match(out, new RegExp(`(Frag needed and DF set \\(mtu = ${1500 - VXLAN_OVERHEAD}\\)|mtu=${1500 - VXLAN_OVERHEAD})`), out);
  });
});
