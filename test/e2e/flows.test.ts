/**
 * End to end, flows: two pods whose vifs have policy enabled, the real
 * daemon, and a small agent written here on the API (WatchFlowMisses +
 * SetFlow): it allows TCP to port 80 and UDP to port 53 between the pods,
 * NATs a floating address (10.10.9.9:80) to pod 2, and drops everything
 * else. On TC vifs (pods with the kernel's default offloads) and on XDP
 * vifs:
 * - the first SYN is held and delivered after the agent's answer: the TCP
 *   connect takes well under the 1 s a SYN retransmit would add;
 * - the held UDP datagrams all arrive, in order, and the flow counted them;
 * - denied traffic never arrives, and is counted as flow_drop;
 * - a TCP transfer through the NAT flow arrives intact (sha256);
 * - idle flows age out and closed TCP flows go, each reported with final
 *   counters (WatchFlowEvents); an unanswered miss expires (flow_hold_expired).
 * Every client in a pod runs as a child process: the agent (this process)
 * must keep answering while it runs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { create } from '@bufbuild/protobuf';
import { Lab } from '../../lab/topology.ts';
import { LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, programTwoPods, type TwoPods } from '../../lab/two-pods.ts';
import type { VrouterClient } from '../../src/client/client.ts';
import { AttachHook } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import {
  FlowAction, FlowEventKind, WatchFlowMissesRequestSchema,
  type FlowEvent, type FlowKey, type FlowMiss, type WatchFlowMissesResponse,
} from '../../src/gen/vrouter/ebpf/v1/flow_pb.js';
import { UdpSink } from '../helpers/udp-peer.ts';

const XFER = fileURLToPath(new URL('../helpers/tcp-xfer.ts', import.meta.url));
const FLOATING = '10.10.9.9';
const TCP = 6;
const UDP = 17;

/** run: a command in a namespace as a child process (the event loop stays free for the agent) */
async function run(lab: Lab, ns: string, cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
  const p = lab.spawnIn(ns, cmd, args, { stdio: 'pipe' });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  await new Promise<void>((resolve) => (p.exitCode !== null ? resolve() : p.once('exit', () => resolve())));
  clearTimeout(t);
  return out;
}

/**
 * TestAgent: the flow policy of the test, answering each miss with SetFlow
 * (the reverse half derived by the daemon) and granting the stream's
 * credits back as it goes.
 */
class TestAgent {
  readonly misses: FlowMiss[] = [];
  /** keys the agent leaves unanswered (their hold expires) */
  ignoreDport = 9999;
  private call: ReturnType<VrouterClient['flows']['watchFlowMisses']> | undefined;
  private readonly client: VrouterClient;
  private readonly pod2: string;

  constructor(client: VrouterClient, pod2: string) {
    this.client = client;
    this.pod2 = pod2;
  }

  decide(k: FlowKey): { action: FlowAction; nat?: { dstIp: string } } {
    if (k.protocol === TCP && k.dstPort === 80 && k.dstIp === FLOATING) return { action: FlowAction.NAT, nat: { dstIp: this.pod2 } };
    if ((k.protocol === TCP && k.dstPort === 80) || (k.protocol === UDP && k.dstPort === 53)) return { action: FlowAction.FORWARD };
    return { action: FlowAction.DROP };
  }

  start(): Promise<void> {
    const call = (this.call = this.client.flows.watchFlowMisses());
    call.write(create(WatchFlowMissesRequestSchema, { msg: { case: 'start', value: { window: 256 } } }));
    call.on('data', (r: WatchFlowMissesResponse) => {
      for (const m of r.misses) {
        this.misses.push(m);
        if (m.key!.dstPort === this.ignoreDport) continue;
        // answering this miss (hold_id): a stale answer is refused, not applied to a newer miss
        void this.client.flows.setFlow({ flow: { key: m.key, holdId: m.holdId, ...this.decide(m.key!) } });
      }
      if (r.misses.length) call.write(create(WatchFlowMissesRequestSchema, { msg: { case: 'grant', value: r.misses.length } }));
    });
    call.on('error', () => {});
    // the first message (an empty batch) says the watch is in place
    return new Promise((resolve) => call.once('data', () => resolve()));
  }

  seen(match: (k: FlowKey) => boolean): FlowMiss[] {
    return this.misses.filter((m) => match(m.key!));
  }

  stop(): void {
    this.call?.cancel();
  }
}

for (const hook of ['tc', 'xdp'] as const)
  describe(`flows on ${hook.toUpperCase()} vifs: a test agent decides every new flow`, () => {
    let lab: Lab;
    let topo: TwoPods;
    let daemon: LabDaemon;
    let client: VrouterClient;
    let agent: TestAgent;
    const events: FlowEvent[] = [];
    let eventsDone: Promise<void> | undefined;
    const drops = async (name: string) => (await client.stats.getDropStats({})).counters.find((d) => d.name === name)?.packets ?? 0n;

    before(async () => {
      lab = new Lab('vrflow');
      topo = buildTwoPods(lab, 1500, { offloads: hook === 'tc' ? 'default' : 'xdp' });
      daemon = new LabDaemon(lab, {
        instance: lab.prefix,
        ns: topo.host,
        extraArgs: ['--flow-idle-udp', '2', '--flow-idle-icmp', '2', '--flow-idle-tcp', '30', '--hold-timeout', '2000'],
      });
      client = await daemon.start();
      await programTwoPods(client, topo, hook === 'tc' ? AttachHook.TC : AttachHook.XDP);
      for (const index of [1, 2]) await client.interfaces.updateInterface({ index, policyEnabled: true });
      agent = new TestAgent(client, topo.pods[1].ip4);
      await agent.start();
      const stream = client.flows.watchFlowEvents({}, {});
      eventsDone = (async () => {
        try {
          for await (const r of stream) events.push(...r.events);
        } catch {
          /* cancelled at the end */
        }
      })();
    });

    after(async () => {
      agent?.stop();
      await daemon?.destroy();
      await eventsDone;
      lab?.cleanup();
    });

    it('the first SYN is held and delivered on the agent\'s answer: connect well under a SYN retransmit (1 s), data intact', async (t) => {
      const [p1, p2] = topo.pods;
      const server = lab.spawnIn(p2.ns, process.execPath, [XFER, 'serve', p2.ip4, '80']);
      let sout = '';
      server.stdout!.on('data', (d: Buffer) => (sout += d.toString()));
      await new Promise<void>((resolve) => server.stdout!.on('data', () => sout.includes('listening') && resolve()));
      const out = await run(lab, p1.ns, process.execPath, [XFER, 'send', p2.ip4, '80', String(4 << 20)]);
      const sent = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as { bytes: number; sha256: string; connectMs: number; error?: string };
      assert.equal(sent.error, undefined, out);
      await new Promise<void>((resolve) => (server.exitCode !== null ? resolve() : server.once('exit', () => resolve())));
      const got = JSON.parse(sout.split('\n').find((l) => l.startsWith('{'))!) as { bytes: number; sha256: string };
      assert.equal(got.sha256, sent.sha256, 'sha256 on both ends');
      assert.ok(sent.connectMs < 500, `connect took ${sent.connectMs.toFixed(1)} ms: the held SYN went on the answer, no retransmit`);
      t.diagnostic(`TCP connect through a flow miss: ${sent.connectMs.toFixed(1)} ms`);
      const m = agent.seen((k) => k.protocol === TCP && k.dstPort === 80 && k.dstIp === p2.ip4);
      assert.equal(m.length, 1, 'one miss for the connection (its reverse half was set with it)');
      assert.equal(m[0]!.interfaceIndex, 1);
      assert.equal(m[0]!.hook, hook === 'tc' ? AttachHook.TC : AttachHook.XDP);
      const f = await client.flows.getFlow({ key: m[0]!.key });
      assert.equal(f.flow!.action, FlowAction.FORWARD);
      assert.ok(f.flow!.packets > 100n, `the forward half counted the transfer (${f.flow!.packets} packets)`);
      assert.ok(f.pair!.packets > 0n, 'the reverse half counted the ACKs');
    });

    it('UDP to 53: every held datagram arrives, in order, and the flow counts them', async () => {
      const [p1, p2] = topo.pods;
      const sink = await UdpSink.start(lab, p2.ns, 53);
      try {
        await run(lab, p1.ns, process.execPath, ['-e', UDP_SEND, 'udp4', '5353', p2.ip4, '53', 'one', 'two', 'three']);
        await sink.waitFor((l) => l === 'three', 3000);
        assert.deepEqual(sink.lines.filter((l) => l !== 'ready'), ['one', 'two', 'three']);
        const key = { vrf: 1, protocol: UDP, srcIp: p1.ip4, dstIp: p2.ip4, srcPort: 5353, dstPort: 53 };
        const f = await client.flows.getFlow({ key });
        assert.equal(f.flow!.packets, 3n, 'the three re-injected datagrams met their flow');
      } finally {
        sink.stop();
      }
    });

    it('denied traffic never arrives: TCP to another port, UDP to another port, ping; counted as flow_drop', async () => {
      const [p1, p2] = topo.pods;
      const d0 = await drops('flow_drop');
      const sink = await UdpSink.start(lab, p2.ns, 54);
      try {
        await run(lab, p1.ns, process.execPath, ['-e', UDP_SEND, 'udp4', '5354', p2.ip4, '54', 'no', 'no']);
        const ping = await run(lab, p1.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', p2.ip4]);
        assert.match(ping, / 0 received/, ping);
        // a held SYN is answered in milliseconds: 2 s without a connection is a DROP flow at work
        const tcp = await run(lab, p1.ns, process.execPath, [XFER, 'send', p2.ip4, '81', '1000'], 2000);
        assert.doesNotMatch(tcp, /"sha256"/, 'no connection to port 81');
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(sink.lines.filter((l) => l !== 'ready'), [], 'nothing reached port 54');
      } finally {
        sink.stop();
      }
      assert.ok((await drops('flow_drop')) - d0 >= 3n, 'drops counted under flow_drop');
      for (const port of [54, 81])
        assert.equal(agent.seen((k) => k.dstPort === port).length, 1, `one miss for port ${port}, then the DROP flow`);
    });

    it('an answer to a miss already answered, or gone, is refused by hold_id and writes nothing', async () => {
      // the denied TCP connection's DROP flow (TCP flows idle for 30 s here; UDP ones age out in 2 s)
      const m = agent.seen((k) => k.protocol === TCP && k.dstPort === 81)[0]!;
      const before = await client.flows.getFlow({ key: m.key });
      assert.equal(before.flow!.action, FlowAction.DROP);
      await assert.rejects(
        client.flows.setFlow({ flow: { key: m.key, holdId: m.holdId, action: FlowAction.FORWARD } }),
        (e: { code: number; details: string }) => e.code === 9 /* FAILED_PRECONDITION */ && /^flow\.hold_id: /.test(e.details),
      );
      assert.equal((await client.flows.getFlow({ key: m.key })).flow!.action, FlowAction.DROP, 'still DROP');
      const gone = { ...m.key!, srcPort: 1 };
      await assert.rejects(
        client.flows.setFlow({ flow: { key: gone, holdId: 42n, action: FlowAction.FORWARD } }),
        (e: { code: number; details: string }) => e.code === 5 /* NOT_FOUND */ && /^flow\.hold_id: /.test(e.details),
      );
    });

    it('NAT: a pod reaches the other through a floating address; TCP sha256 equal, replies come from the floating address', async () => {
      const [p1, p2] = topo.pods;
      const server = lab.spawnIn(p2.ns, process.execPath, [XFER, 'serve', p2.ip4, '80']);
      let sout = '';
      server.stdout!.on('data', (d: Buffer) => (sout += d.toString()));
      await new Promise<void>((resolve) => server.stdout!.on('data', () => sout.includes('listening') && resolve()));
      const out = await run(lab, p1.ns, process.execPath, [XFER, 'send', FLOATING, '80', String(8 << 20)]);
      const sent = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as { sha256: string; error?: string };
      assert.equal(sent.error, undefined, out);
      await new Promise<void>((resolve) => (server.exitCode !== null ? resolve() : server.once('exit', () => resolve())));
      const got = JSON.parse(sout.split('\n').find((l) => l.startsWith('{'))!) as { bytes: number; sha256: string };
      assert.equal(got.bytes, 8 << 20);
      assert.equal(got.sha256, sent.sha256, 'rewritten both ways with correct checksums');
      const m = agent.seen((k) => k.dstIp === FLOATING);
      assert.equal(m.length, 1);
      const f = await client.flows.getFlow({ key: m[0]!.key });
      assert.equal(f.flow!.action, FlowAction.NAT);
      assert.equal(f.pair!.key!.srcIp, p2.ip4, 'the reverse half is keyed by the translated address');
    });

    it('idle and closed flows are removed and reported with their final counters; an unanswered miss expires', async () => {
      const [p1, p2] = topo.pods;
      const e0 = await drops('flow_hold_expired');
      await run(lab, p1.ns, process.execPath, ['-e', UDP_SEND, 'udp4', '5399', p2.ip4, String(agent.ignoreDport), 'x']);
      const until = Date.now() + 10_000;
      const has = (kind: FlowEventKind, match: (k: FlowKey) => boolean) =>
        events.some((e) => e.kind === kind && match(e.flow!.key!));
      const udp53 = (k: FlowKey) => k.protocol === UDP && k.dstPort === 53 && k.srcPort === 5353;
      const tcp80 = (k: FlowKey) => k.protocol === TCP && k.dstPort === 80 && k.dstIp === p2.ip4 && !k.srcIp.startsWith('10.10.9');
      const expired = (k: FlowKey) => k.dstPort === agent.ignoreDport;
      while (Date.now() < until && !(has(FlowEventKind.AGED, udp53) && has(FlowEventKind.CLOSED, tcp80) && has(FlowEventKind.HOLD_EXPIRED, expired)))
        await new Promise((r) => setTimeout(r, 100));
      const aged = events.find((e) => e.kind === FlowEventKind.AGED && udp53(e.flow!.key!));
      assert.ok(aged, 'the idle UDP flow aged out');
      assert.equal(aged.flow!.packets, 3n, 'with its final counters');
      assert.ok(has(FlowEventKind.CLOSED, tcp80), 'the finished TCP connection was removed as closed');
      assert.ok(has(FlowEventKind.HOLD_EXPIRED, expired), 'the miss nobody answered expired');
      assert.ok((await drops('flow_hold_expired')) - e0 >= 1n, 'its packet counted as flow_hold_expired');
      const left = await client.flows.listFlows({ address: p1.ip4 });
      assert.ok(!left.flows.some((f) => udp53(f.key!)), 'the aged flow is gone from the table');
    });

    it('the metrics count misses, held and re-injected packets, aged and closed flows', () => {
      const text = lab.exec(topo.host, process.execPath, ['-e', 'fetch("http://127.0.0.1:9478/metrics").then(r=>r.text()).then(t=>process.stdout.write(t))']);
      const value = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
      assert.ok(value('vrouter_flow_misses_total') >= 7, `misses ${value('vrouter_flow_misses_total')}`);
      assert.ok(value('vrouter_flow_held_packets_total') >= value('vrouter_flow_misses_total'), 'every miss held its packet');
      assert.ok(value('vrouter_flow_reinjected_packets_total') >= 5, 'the SYNs and the three datagrams went back in');
      assert.ok(value('vrouter_flows_aged_total') >= 1);
      assert.ok(value('vrouter_flows_closed_total') >= 1);
      assert.equal(value('vrouter_flow_watchers'), 2, 'the agent\'s two streams');
      assert.equal(value('vrouter_flow_miss_watcher_lost_total'), 0);
    });
  });

/** UDP_SEND: datagrams from a fixed source port, sent one after another (udp-peer's sender) */
const UDP_SEND = `
const [family, sport, dst, dport, ...msgs] = process.argv.slice(1);
const s = require('node:dgram').createSocket(family);
s.bind(Number(sport), () => {
  let i = 0;
  const next = () => (i < msgs.length ? s.send(msgs[i++], Number(dport), dst, next) : s.close());
  next();
});
`;
