/**
 * The host's own traffic through the datapath: vhost0 (lab/vhost.ts) is the
 * host vif's interface, the host's routes to the pods point at it, and the
 * tcx egress entry (vr_tc_egress) sends what the host sends there to the
 * pods, or through a tunnel to a remote host's pods. The host namespace
 * pings and TCP-transfers (sha256) to the pods; the host vif's counters
 * move; the egress link survives a daemon restart (adopted, the same
 * link) and goes with the vif. Pods with the kernel's default offloads
 * (TC vifs).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../lab/topology.ts';
import { BPFFS_LAB_ROOT, LabDaemon, startDaemons } from '../../lab/daemon.ts';
import { buildTwoPods, NH_RECEIVE, programTwoPods, VRF, type TwoPods } from '../../lab/two-pods.ts';
import { addVhost, addVhosts, HOST_VIF, hostEnd, programVhost, programVhostsOverlay, type Vhost } from '../../lab/vhost.ts';
import { buildMultiHost, podOf, type MultiHost } from '../../lab/multihost.ts';
import { FABRIC_VIF, programOverlay } from '../../lab/overlay-program.ts';
import { findTunnelApi } from '../../lab/tunnel-api.ts';
import type { VrouterClient } from '../../src/client/client.ts';
import { AttachHook } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import { backgroundPing } from '../helpers/background-ping.ts';
import { tcpTransferChecked } from '../helpers/transfer.ts';
import { runVrctl } from '../helpers/vrctl-run.ts';

const XFER_BYTES = 4 * 1024 * 1024;
const hostStats = async (c: VrouterClient, index = HOST_VIF) => (await c.stats.getInterfaceStats({ index })).stats!;

describe('one host: the host namespace reaches its pods through vhost0 and the egress entry', () => {
  let lab: Lab;
  let topo: TwoPods;
  let vh: Vhost;
  let daemon: LabDaemon;
  let client: VrouterClient;

  before(async () => {
    lab = new Lab('vrhe');
    topo = buildTwoPods(lab, 1500, { offloads: 'default' });
    vh = addVhost(lab, topo.host, 'h', '10.10.0.1', 'fd00:10::1', ['10.10.0.0/16', 'fd00:10::/32']);
    daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host });
    client = await daemon.start();
    await programTwoPods(client, topo, AttachHook.TC);
    await programVhost(client, vh, VRF, NH_RECEIVE);
  });

  after(async () => {
    await daemon?.destroy();
    lab?.cleanup();
  });

  it('the host vif has two attachments: its ingress one and a tcx egress link running vr_tc_egress', async () => {
    const info = await client.system.getSystemInfo({});
    const mine = info.attachments.filter((a) => a.interfaceIndex === HOST_VIF);
    assert.deepEqual(mine.map((a) => [a.name, a.hook, a.egress, a.program]), [
      ['vhost0', AttachHook.TC, false, 'vr_tc_vif'],
      ['vhost0', AttachHook.TC, true, 'vr_tc_egress'],
    ]);
    assert.ok(mine[1]!.linkId > 0);
    assert.ok(info.programs.some((p) => p.name === 'vr_tc_egress'));
    assert.ok(existsSync(join(BPFFS_LAB_ROOT, lab.prefix, 'links', `egress_${mine[1]!.osIndex}`)), 'the egress link is pinned');
    assert.equal(info.attachments.filter((a) => a.egress).length, 1, 'only the host vif has one');
    // and as vrctl shows it: one row per link, the direction in its own column
    const out = await runVrctl(['--socket', daemon.socketPath, 'system']);
    assert.equal(out.code, 0, out.stderr);
    const rows = out.stdout.split('\n').filter((l) => /^\s*50\s+vhost0\s/.test(l)).map((l) => l.trim().split(/\s+/));
    assert.deepEqual(rows.map((r) => [r[3], r[4], r[7]]), [['tc', 'ingress', 'vr_tc_vif'], ['tc', 'egress', 'vr_tc_egress']]);
  });

  it('the host routes the pods via vhost0; its ping reaches both pods, IPv4 and IPv6, through the egress entry', async () => {
    for (const pod of topo.pods) assert.match(lab.ip(topo.host, ['route', 'get', pod.ip4]), / dev vhost0 /);
    const s0 = await hostStats(client);
    const p0 = await Promise.all([1, 2].map((i) => hostStats(client, i)));
    for (const pod of topo.pods) {
      assert.equal(lab.ping(topo.host, pod.ip4, 3).received, 3, `host -> ${pod.ip4}`);
      assert.equal(lab.ping(topo.host, pod.ip6, 3).received, 3, `host -> ${pod.ip6}`);
    }
    const s1 = await hostStats(client);
    const p1 = await Promise.all([1, 2].map((i) => hostStats(client, i)));
    // 12 echo requests (and the ARP / NS the proxy answered) came in from the host vif
    assert.ok(s1.rxPackets - s0.rxPackets >= 12n, `host vif rx moved by ${s1.rxPackets - s0.rxPackets}`);
    for (const i of [0, 1]) assert.ok(p1[i]!.txPackets - p0[i]!.txPackets >= 6n, `pod vif ${i + 1} tx moved by ${p1[i]!.txPackets - p0[i]!.txPackets}`);
    // the host's ARP request and neighbour solicitation for each pod, answered by the proxy up into the host
    assert.ok(s1.proxied - s0.proxied >= 4n, `host vif proxied moved by ${s1.proxied - s0.proxied}`);
    // the host learnt the pods' addresses from the proxy: the host vif's MAC
    const neigh = lab.ip(topo.host, ['neigh', 'show', topo.pods[0].ip4, 'dev', 'vhost0']);
    assert.match(neigh, new RegExp(`lladdr ${vh.mac}`), neigh);
  });

  it('TCP from the host to a pod and from a pod to the host arrives intact (sha256), IPv4 and IPv6', async () => {
    const s0 = await hostStats(client);
    await tcpTransferChecked(lab, hostEnd(vh), topo.pods[0], 'ip4', XFER_BYTES);
    await tcpTransferChecked(lab, hostEnd(vh), topo.pods[1], 'ip6', XFER_BYTES);
    await tcpTransferChecked(lab, topo.pods[0], hostEnd(vh), 'ip4', XFER_BYTES);
    const s1 = await hostStats(client);
    // the host's data (GSO skbs) and acknowledgements, all through the egress entry
    assert.ok(s1.rxBytes - s0.rxBytes >= BigInt(2 * XFER_BYTES), `host vif rx bytes moved by ${s1.rxBytes - s0.rxBytes}`);
    assert.equal(s1.drops - s0.drops, 0n, 'nothing dropped on the host vif');
  });

  it('an address the datapath does not know goes on out of vhost0 (to_host counted), not dropped', async () => {
    lab.ip(topo.host, ['route', 'add', '10.77.0.0/24', 'dev', 'vhost0']);
    try {
      const s0 = await hostStats(client);
      assert.equal(lab.ping(topo.host, '10.77.0.1', 1, { allowFail: true }).received, 0);
      const s1 = await hostStats(client);
      assert.ok(s1.toHost - s0.toHost >= 1n, 'passed on');
      assert.equal(s1.drops - s0.drops, 0n);
    } finally {
      lab.ip(topo.host, ['route', 'del', '10.77.0.0/24', 'dev', 'vhost0']);
    }
  });

  it('a daemon restart keeps the egress link (the same link, adopted) and the host\'s traffic flowing', async () => {
    const link0 = (await client.system.getSystemInfo({})).attachments.find((a) => a.egress)!;
    const ping = backgroundPing(lab, topo, 60, { intervalS: 0.05, from: topo.host, dst: topo.pods[1].ip4 });
    await sleep(300);
    await daemon.stop('SIGKILL');
    await sleep(1000);
    client = await daemon.start();
    assert.deepEqual(await ping, { transmitted: 60, received: 60 }, 'no ping from the host lost across the restart');
    const info = await client.system.getSystemInfo({});
    assert.equal(info.adopted, true);
    const link1 = info.attachments.find((a) => a.egress)!;
    assert.deepEqual([link1.linkId, link1.program, link1.interfaceIndex], [link0.linkId, 'vr_tc_egress', HOST_VIF], 'the same link, not a new one');
    assert.equal(lab.ping(topo.host, topo.pods[0].ip6, 2).received, 2);
  });

  it('deleting the host vif detaches its egress link: the host no longer reaches the pods through vhost0', async () => {
    for (const prefix of [`${vh.ip4}/32`, `${vh.ip6}/128`]) await client.routes.deleteRoute({ vrf: VRF, prefix });
    await client.interfaces.deleteInterface({ index: HOST_VIF });
    const info = await client.system.getSystemInfo({});
    assert.equal(info.attachments.some((a) => a.egress), false);
    assert.deepEqual(readdirSync(join(BPFFS_LAB_ROOT, lab.prefix, 'links')).filter((n) => n.startsWith('egress_')), [], 'its pin removed');
    assert.equal(lab.ping(topo.host, topo.pods[0].ip4, 1, { allowFail: true }).received, 0, 'what the host sends out of vhost0 ends in the sink');
  });
});

const api = await findTunnelApi();
const skip = typeof api === 'string' ? api : false;

describe('two hosts: the host namespace reaches a remote pod through a tunnel (MPLSoUDP), from the egress entry', { skip }, () => {
  let lab: Lab;
  let t: MultiHost;
  let daemons: LabDaemon[] = [];
  let clients: VrouterClient[];
  let vhosts: Vhost[];

  before(async () => {
    if (typeof api === 'string') throw new Error(api);
    lab = new Lab('vrhem');
    t = buildMultiHost(lab, { hosts: 2, offloads: 'default' });
    vhosts = addVhosts(lab, t);
    daemons = await startDaemons(lab, t.hosts.map((h) => h.ns));
    clients = daemons.map((d) => d.client!);
    await programOverlay(clients, t, 'mplsoudp', api, { hook: AttachHook.TC });
    await programVhostsOverlay(clients, t, vhosts, 'mplsoudp', api);
    // a first exchange resolves the neighbours on the way (the host's, the remote pod's gateway, the underlay's)
    lab.ping(t.hosts[0]!.ns, podOf(t, 2).ip4, 2, { allowFail: true });
  });

  after(async () => {
    for (const d of daemons) await d.destroy();
    lab?.cleanup();
  });

  it('host 1 pings the pod of host 2, IPv4 and IPv6; host 1\'s host vif and fabric vif counted it', async () => {
    const remote = podOf(t, 2);
    assert.match(lab.ip(t.hosts[0]!.ns, ['route', 'get', remote.ip4]), / dev vhost0 /);
    const h0 = await hostStats(clients[0]!);
    const f0 = await hostStats(clients[0]!, FABRIC_VIF);
    assert.equal(lab.ping(t.hosts[0]!.ns, remote.ip4, 3).received, 3, `host 1 -> ${remote.ip4}`);
    assert.equal(lab.ping(t.hosts[0]!.ns, remote.ip6, 3).received, 3, `host 1 -> ${remote.ip6}`);
    const h1 = await hostStats(clients[0]!);
    const f1 = await hostStats(clients[0]!, FABRIC_VIF);
    assert.ok(h1.rxPackets - h0.rxPackets >= 6n, `host vif rx moved by ${h1.rxPackets - h0.rxPackets}`);
    assert.ok(f1.txPackets - f0.txPackets >= 6n, `fabric vif tx (encapsulated) moved by ${f1.txPackets - f0.txPackets}`);
    assert.ok(f1.rxPackets - f0.rxPackets >= 6n, `fabric vif rx (the replies, decapsulated up the host) moved by ${f1.rxPackets - f0.rxPackets}`);
  });

  it('TCP between host 1 and the pod of host 2 arrives intact (sha256): IPv4 from the host, IPv6 to it', async () => {
    const h0 = await hostStats(clients[0]!);
    await tcpTransferChecked(lab, hostEnd(vhosts[0]!), podOf(t, 2), 'ip4', XFER_BYTES);
    await tcpTransferChecked(lab, podOf(t, 2), hostEnd(vhosts[0]!), 'ip6', XFER_BYTES);
    const h1 = await hostStats(clients[0]!);
    assert.ok(h1.rxBytes - h0.rxBytes >= BigInt(XFER_BYTES), `host vif rx bytes moved by ${h1.rxBytes - h0.rxBytes}`);
  });

  it('host 1 and host 2 reach each other\'s overlay address (vhost0 to vhost0) through the tunnel', () => {
    assert.equal(lab.ping(t.hosts[0]!.ns, vhosts[1]!.ip4, 2).received, 2);
  });
});
