/**
 * The demo: two pods on one host ping each other through the datapath
 * (pod vifs on the TC hook: the pods keep the kernel's default offloads),
 * programmed over gRPC. `--keep` leaves the daemon and topology up until
 * Ctrl-C, so that a person can poke it with buf curl.
 */
import { parseArgs } from 'node:util';
import { Lab } from '../lab/topology.ts';
import { LabDaemon } from '../lab/daemon.ts';
import { buildTwoPods, twoPodsOps } from '../lab/two-pods.ts';
import { collect } from '../src/client/client.ts';
import { AttachHook, AttachMode } from '../src/gen/vrouter/ebpf/v1/interface_pb.js';

const { values } = parseArgs({ options: { keep: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } });
if (values.help) {
  console.log('usage: npm run demo [-- --keep]\n  --keep  leave the daemon and the namespaces up until Ctrl-C');
  process.exit(0);
}

const say = (s: string) => console.log(`\n== ${s}`);
// SIGINT (Ctrl-C) and SIGTERM (a process manager, `timeout`) alike: finish, then clean up below
const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve(sig));
});
const lab = new Lab('vrdemo');
const daemon = new LabDaemon(lab, { instance: lab.prefix, ns: '' });
let failed = false;
try {
  say(`building the topology (namespaces ${lab.prefix}-*)`);
  // pods as the kernel makes them: no ethtool, TSO and TX checksum offload on (vifs on TC: auto for a veth)
  const t = buildTwoPods(lab, 1500, { offloads: 'default' });
  (daemon.opts as { ns: string }).ns = t.host;
  console.log(`host ${t.host}: ip_forward=0; pods ${t.pods.map((p) => `${p.ns} ${p.ip4} ${p.ip6}`).join(', ')}`);

  say('the pods cannot reach each other before the datapath is programmed');
  const before = lab.ping(t.pods[0].ns, t.pods[1].ip4, 1, { allowFail: true });
  console.log(`ping ${t.pods[1].ip4}: ${before.received} of 1 received`);
  // forget the failed gateway lookup, as a pod that starts after its vif would never have made it
  lab.ip(t.pods[0].ns, ['neigh', 'flush', 'dev', 'eth0']);

  say('starting vrouter-ebpfd in the host namespace');
  const client = await daemon.start();
  const info = await client.system.getSystemInfo({});
  console.log(`vrouter-ebpfd ${info.version} on kernel ${info.kernel}, datapath ${info.bpffsDir} (${info.adopted ? 'adopted' : 'loaded'})`);

  say('programming vifs, next hops and routes over gRPC: one transaction on the programming stream');
  const stream = client.programStream();
  const ops = twoPodsOps(t);
  await stream.transaction(ops.map((op) => ({ op })));
  await stream.close();
  console.log(`${ops.length} operations applied all or nothing (ProgramService.Program; the unary services work too)`);
  for (const r of await collect(client.interfaces.listInterfaces({}))) {
    const v = r.interface!;
    const hook = v.hook === AttachHook.TC ? `tc (tcx ingress${v.peerDelivery ? ', bpf_redirect_peer into the pod' : ''})` : `xdp ${v.attachMode === AttachMode.NATIVE ? 'native' : 'generic'}`;
    console.log(`vif ${v.index} ${v.name} vrf ${v.vrf} mac ${v.mac} hook ${hook}`);
  }
  for (const r of await collect(client.routes.listRoutes({})))
    console.log(`route vrf ${r.route!.vrf} ${r.route!.prefix} -> nh ${r.route!.nextHopId}${r.route!.proxyArp ? ' (proxy arp/nd)' : ''}`);

  say('ping pod1 -> pod2 and pod2 -> pod1 (IPv4 and IPv6)');
  for (const [from, to] of [[0, 1], [1, 0]] as const) {
    for (const dst of [t.pods[to].ip4, t.pods[to].ip6]) {
      const r = lab.ping(t.pods[from].ns, dst, 3);
      console.log(`pod${from + 1} -> ${dst}: ${r.received}/3 received`);
    }
  }

  say('counters');
  for (const s of await collect(client.stats.listInterfaceStats({}))) {
    const x = s.stats!;
    console.log(`vif ${x.index} ${x.name}: rx ${x.rxPackets} pkts ${x.rxBytes} B, tx ${x.txPackets} pkts ${x.txBytes} B, proxied ${x.proxied}, to host ${x.toHost}, drops ${x.drops}`);
  }
  const drops = await client.stats.getDropStats({});
  console.log(`drops: ${drops.counters.filter((c) => c.packets > 0n).map((c) => `${c.name}=${c.packets}`).join(' ') || 'none'}`);

  if (values.keep) {
    say('left running; try (in another shell):');
    const sock = daemon.socketPath;
    console.log(`  npx buf curl --protocol grpc --http2-prior-knowledge --unix-socket ${sock} --list-methods http://localhost`);
    console.log(`  npx buf curl --protocol grpc --http2-prior-knowledge --unix-socket ${sock} http://localhost/vrouter.ebpf.v1.StatsService/GetDropStats`);
    console.log(`  ip netns exec ${t.pods[0].ns} ping ${t.pods[1].ip4}`);
    console.log('Ctrl-C (or SIGTERM) to clean up.');
    say(`${await stopSignal}: cleaning up`);
  }
} catch (err) {
  failed = true;
  console.error(`demo failed: ${(err as Error).message}`);
  if (daemon.log) console.error(`daemon log:\n${daemon.log}`);
} finally {
  await daemon.destroy();
  lab.cleanup();
  say(failed ? 'FAILED (cleaned up)' : 'done (cleaned up)');
  process.exitCode = failed ? 1 : 0;
}
