/**
 * PacketService against a real daemon on the two-pod lab (TC vifs): trap
 * rules from the flags into vr_config and changed at run time; SendPacket
 * out of a vif into a pod and into the datapath towards the other pod,
 * with every refusal a precise status; WatchPackets fed by the trap ring
 * (records written by test/fixtures/trap_writer.c, and ARP trapped by the
 * datapath itself), its reason filter and a slow watcher's own losses;
 * vrctl's packet commands; the config written again by a daemon that
 * adopts the datapath.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runVrctl, type VrctlRun } from '../helpers/vrctl-run.ts';
import { status, type ClientReadableStream } from '@grpc/grpc-js';
import { Lab } from '../../lab/topology.ts';
import { BPFFS_LAB_ROOT, LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, programTwoPods, type TwoPods } from '../../lab/two-pods.ts';
import type { VrouterClient } from '../../src/client/client.ts';
import { AttachHook } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import { SendMode, TrapReason, type WatchPacketsResponse } from '../../src/gen/vrouter/ebpf/v1/packet_pb.js';
import { BpfMap } from '../../src/bpf/map.ts';
import { ConfigTable } from '../../src/maps/tables/config-table.ts';
import { TRAP_F } from '../../src/maps/layout.ts';
import type { TrappedPacket } from '../../src/packets/trap-record.ts';
import { TrapWriter } from '../helpers/trap-writer.ts';
import { listenUdp, within } from '../helpers/udp-listen.ts';
import { eth, ipv4, udp } from '../helpers/packets.ts';
import { rejects } from '../helpers/grpc-status.ts';

const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/vrctl.ts', import.meta.url));
const PORT = 5555;

let lab: Lab;
let topo: TwoPods;
let daemon: LabDaemon;
let c: VrouterClient;
let writer: TrapWriter;

const mapPin = (name: string) => join(BPFFS_LAB_ROOT, lab.prefix, 'maps', name);

function readConfig() {
  const m = BpfMap.open(mapPin('vr_config'));
  try {
    return new ConfigTable(m).read();
  } finally {
    m.close();
  }
}

type Stream = AsyncIterable<WatchPacketsResponse> & ClientReadableStream<WatchPacketsResponse>;
/** watch: a WatchPackets stream (no deadline), once its first, empty message says the watch is in place */
async function watch(req: Parameters<VrouterClient['packets']['watchPackets']>[0]): Promise<Stream> {
  const s = c.packets.watchPackets(req, {}) as Stream;
  const first = await new Promise<WatchPacketsResponse>((resolve, reject) => {
    s.once('error', reject);
    s.once('data', (m: WatchPacketsResponse) => {
      s.pause(); // at once: a flowing stream with no 'data' listener drops what comes next
      s.off('error', reject);
      resolve(m);
    });
  });
  assert.deepEqual([first.packets.length, first.lost], [0, 0n], 'the first message is empty');
  return s;
}

/** collect: packets and losses from a stream until `n` packets and losses have come (or ms pass) */
async function collect(s: Stream, n: number, ms = 10_000): Promise<{ packets: WatchPacketsResponse['packets']; lost: number }> {
  const packets: WatchPacketsResponse['packets'] = [];
  let lost = 0;
  const done = (async () => {
    for await (const m of s) {
      lost += Number(m.lost);
      packets.push(...m.packets);
      if (packets.length + lost >= n) return;
    }
  })();
  await within(done, ms, `${n} packets`).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}: got ${packets.length} packets and ${lost} lost`);
  });
  return { packets, lost };
}

const trap = (reason: TrappedPacket['reason'], i: number, frame: Buffer = Buffer.alloc(60, i & 0xff)): TrappedPacket => ({
  reason, hook: i % 2 ? 'tc' : 'xdp', vifIdx: 1 + (i % 2), ifindex: 100 + i, vrf: 1, tsNs: 5_000_000_000n + BigInt(i), pktLen: frame.length + (i % 3), frame,
});

before(async () => {
  lab = new Lab('vrpkt');
  topo = buildTwoPods(lab, 1500, { offloads: 'default' });
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host, extraArgs: ['--trap', 'dhcp', '--hold-per-flow', '5'] });
  c = await daemon.start();
  await programTwoPods(c, topo, AttachHook.TC);
  writer = TrapWriter.open(mapPin('vr_trap_rb'));
});

after(async () => {
  writer?.close();
  await daemon?.destroy();
  lab?.cleanup();
});

describe('trap rules', () => {
  it('the daemon writes --trap and --hold-per-flow into vr_config at start', async () => {
    assert.deepEqual((await c.packets.getTrapRules({})).rules, [TrapReason.DHCP]);
    assert.deepEqual(readConfig(), { holdPerFlow: 5, trapMask: TRAP_F.DHCP });
  });

  it('SetTrapRules replaces them while the datapath runs; GetTrapRules and the map agree', async () => {
    assert.deepEqual((await c.packets.setTrapRules({ rules: [TrapReason.DNS, TrapReason.ARP, TrapReason.DNS] })).rules, [TrapReason.ARP, TrapReason.DNS]);
    assert.deepEqual((await c.packets.getTrapRules({})).rules, [TrapReason.ARP, TrapReason.DNS]);
    assert.deepEqual(readConfig(), { holdPerFlow: 5, trapMask: TRAP_F.ARP | TRAP_F.DNS }, 'hold_per_flow kept');
    assert.deepEqual((await c.packets.setTrapRules({ rules: [] })).rules, []);
    assert.equal(readConfig().trapMask, 0);
  });

  it('refuses unknown and UNSPECIFIED reasons at their position, changing nothing', async () => {
    await c.packets.setTrapRules({ rules: [TrapReason.RS] });
    await rejects(c.packets.setTrapRules({ rules: [TrapReason.ARP, 99 as TrapReason] }), status.INVALID_ARGUMENT, 'rules[1]', /unknown trap reason 99/);
    await rejects(c.packets.setTrapRules({ rules: [TrapReason.UNSPECIFIED] }), status.INVALID_ARGUMENT, 'rules[0]');
    assert.deepEqual((await c.packets.getTrapRules({})).rules, [TrapReason.RS]);
  });

  it('works with buf curl and JSON through reflection', () => {
    const out = execFileSync(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--unix-socket', daemon.socketPath,
      '-d', '{"rules":["TRAP_REASON_OWN","TRAP_REASON_ND"]}', 'http://localhost/vrouter.ebpf.v1.PacketService/SetTrapRules'], { encoding: 'utf8', timeout: 30_000 });
    assert.deepEqual(JSON.parse(out), { rules: ['TRAP_REASON_ND', 'TRAP_REASON_OWN'] });
    assert.equal(readConfig().trapMask, TRAP_F.ND | TRAP_F.OWN);
  });
});

describe('SendPacket', () => {
  const [pod1, pod2] = [() => topo.pods[0], () => topo.pods[1]];
  const datagram = (dst: string, src: string, from: string, to: string, text: string) =>
    eth(dst, src, 0x0800, ipv4(from, to, 17, udp(4000, PORT, Buffer.from(text))));

  it('OUT: a frame sent out of vif 1 arrives in pod 1', async () => {
    const { got } = await listenUdp(lab, pod1().ns, pod1().ip4, PORT);
    await c.packets.sendPacket({ interfaceIndex: 1, frame: datagram(pod1().mac, pod1().hostMac, '10.10.1.1', pod1().ip4, 'out'), mode: SendMode.OUT });
    assert.deepEqual(await within(got, 5000, 'datagram in pod 1'), { text: 'out', from: '10.10.1.1:4000' });
  });

  it('INTO: a frame injected as received on vif 1 is routed to pod 2 and counted', async () => {
    const { got } = await listenUdp(lab, pod2().ns, pod2().ip4, PORT);
    const rx = (await c.stats.getInterfaceStats({ index: 1 })).stats!.rxPackets;
    await c.packets.sendPacket({ interfaceIndex: 1, frame: datagram(pod1().hostMac, pod1().mac, pod1().ip4, pod2().ip4, 'into'), mode: SendMode.INTO });
    assert.deepEqual(await within(got, 5000, 'datagram in pod 2'), { text: 'into', from: `${pod1().ip4}:4000` });
    assert.ok((await c.stats.getInterfaceStats({ index: 1 })).stats!.rxPackets > rx, 'counted as received on vif 1');
  });

  it('bad input: a precise status naming the field', async () => {
    const P = c.packets;
    const f = (len: number) => Buffer.alloc(len, 1);
    await rejects(P.sendPacket({ interfaceIndex: 9, frame: f(60) }), status.NOT_FOUND, 'interface_index');
    await rejects(P.sendPacket({ interfaceIndex: 1, frame: f(13) }), status.INVALID_ARGUMENT, 'frame', /at least 14/);
    await rejects(P.sendPacket({ interfaceIndex: 1, frame: f(1515), mode: SendMode.INTO }), status.INVALID_ARGUMENT, 'frame', /1514/);
    await rejects(P.sendPacket({ interfaceIndex: 1, frame: f(60), mode: 7 as SendMode }), status.INVALID_ARGUMENT, 'mode');
  });
});

describe('WatchPackets', () => {
  const pod1 = () => topo.pods[0];
  it('streams every record of the trap ring with its metadata; a reason filter keeps only its own', async () => {
    const all = await watch({});
    const dhcp = await watch({ reasons: [TrapReason.DHCP] });
    const recs = [trap('arp', 1), trap('dhcp', 2, Buffer.alloc(342, 7)), trap('dns', 3)];
    for (const r of recs) writer.write(r);
    const a = await collect(all, 3);
    assert.equal(a.lost, 0);
    assert.deepEqual(a.packets.map((p) => [p.interfaceIndex, p.osIndex, p.vrf, p.reason, p.hook, p.timestampNs, p.packetLength, Buffer.from(p.frame)]),
      recs.map((r) => [r.vifIdx, r.ifindex, r.vrf, TrapReason[r.reason.toUpperCase() as 'ARP'], r.hook === 'tc' ? AttachHook.TC : AttachHook.XDP, r.tsNs, r.pktLen, r.frame]));
    const d = await collect(dhcp, 1);
    assert.deepEqual([d.packets.length, d.packets[0]!.reason, d.packets[0]!.frame.length], [1, TrapReason.DHCP, 342]);
    all.cancel();
    dhcp.cancel();
  });

  it('a watcher that does not read loses its own packets, counted in its stream; a reading one loses none', async () => {
    const N = 10_000;
    const reading = await watch({ queueLimit: 16_384 });
    const stalled = await watch({ queueLimit: 16 });
    const got = collect(reading, N);
    for (let i = 0; i < N; i++) writer.write(trap('arp', i));
    const r = await got;
    assert.deepEqual([r.packets.length, r.lost], [N, 0]);
    assert.ok(r.packets.every((p, i) => p.timestampNs === 5_000_000_000n + BigInt(i)), 'in ring order');
    const s = await collect(stalled, N);
    assert.equal(s.packets.length + s.lost, N, 'every packet came or was counted as lost');
    assert.ok(s.lost > 0, 'the stalled watcher lost some');
    reading.cancel();
    stalled.cancel();
    const metrics = lab.exec(topo.host, process.execPath, ['-e', 'fetch("http://127.0.0.1:9478/metrics").then(r=>r.text()).then(t=>process.stdout.write(t))']);
    const lost = Number(/^vrouter_packet_watcher_lost_total (\d+)/m.exec(metrics)?.[1]);
    assert.ok(lost >= s.lost, `vrouter_packet_watcher_lost_total ${lost} >= ${s.lost}`);
    for (const m of ['vrouter_flow_misses_total', 'vrouter_flow_held_packets_total', 'vrouter_flow_hits_total', 'vrouter_trapped_packets_total', 'vrouter_packet_watchers'])
      assert.match(metrics, new RegExp(`^${m} \\d+`, 'm'), m);
  });

  it('bad requests: unknown reasons, too long a queue', async () => {
    const first = async (req: Parameters<VrouterClient['packets']['watchPackets']>[0]) => {
      for await (const m of c.packets.watchPackets(req)) return m;
      return undefined;
    };
    await rejects(first({ reasons: [TrapReason.ARP, 42 as TrapReason] }), status.INVALID_ARGUMENT, 'reasons[1]');
    await rejects(first({ reasons: [TrapReason.UNSPECIFIED] }), status.INVALID_ARGUMENT, 'reasons[0]');
    await rejects(first({ queueLimit: 16_385 }), status.INVALID_ARGUMENT, 'queue_limit', /16384/);
  });

  // needs the datapath's trap rules (bpf/, being written apart): with them absent the record never comes
  it('an ARP request from a pod, with trap arp on, comes out with reason ARP and its vif', async () => {
    await c.packets.setTrapRules({ rules: [TrapReason.ARP] });
    const s = await watch({ reasons: [TrapReason.ARP] });
    try {
      lab.ip(pod1().ns, ['neigh', 'flush', 'all']);
      // ARP is trapped instead of answered: the ping fails, its ARP requests are what we want
      lab.exec(pod1().ns, 'ping', ['-c', '1', '-W', '1', '10.10.1.1'], { allowFail: true });
      const { packets } = await collect(s, 1, 5000);
      const p = packets[0]!;
      assert.deepEqual([p.reason, p.interfaceIndex, p.vrf], [TrapReason.ARP, 1, 1]);
      const f = Buffer.from(p.frame);
      assert.equal(f.readUInt16BE(12), 0x0806, 'an ARP frame');
      assert.equal(f.readUInt16BE(20), 1, 'a request');
      assert.deepEqual([...f.subarray(38, 42)], [10, 10, 1, 1], 'for the gateway');
    } finally {
      s.cancel();
      await c.packets.setTrapRules({ rules: [] });
    }
  });
});

describe('vrctl', () => {
  function vrctl(...args: string[]): Promise<VrctlRun> {
    return runVrctl(['--socket', daemon.socketPath, ...args]);
  }

  it('trap set / get, for people and scripts; a bad rule is a usage error', async () => {
    assert.deepEqual(await vrctl('trap', 'set', 'dns,arp'), { code: 0, stdout: 'arp,dns\n', stderr: '' });
    assert.deepEqual(await vrctl('trap', 'get'), { code: 0, stdout: 'arp,dns\n', stderr: '' });
    assert.deepEqual(JSON.parse((await vrctl('--json', 'trap', 'get')).stdout), { rules: ['TRAP_REASON_ARP', 'TRAP_REASON_DNS'] });
    const bad = await vrctl('trap', 'set', 'arp,ndp');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^vrctl: rules: "ndp" is not one of arp, dhcp, dns, nd, rs, own/);
    assert.deepEqual(await vrctl('trap', 'set', 'none'), { code: 0, stdout: 'none\n', stderr: '' });
  });

  it('send: out of a vif; an unknown vif is NOT_FOUND naming the field', async () => {
    const frame = eth(topo.pods[0].mac, topo.pods[0].hostMac, 0x0800, ipv4('10.10.1.1', topo.pods[0].ip4, 17, udp(1, 9, Buffer.alloc(4))));
    assert.deepEqual(await vrctl('send', '--vif', '1', '--hex', frame.toString('hex')), { code: 0, stdout: `sent ${frame.length} bytes out of vif 1\n`, stderr: '' });
    const r = await vrctl('send', '--vif', '9', '--into', '--hex', frame.toString('hex'));
    assert.deepEqual([r.code, r.stderr], [1, 'vrctl: NOT_FOUND: interface_index: no interface with index 9\n']);
  });

  /** watchOut: runs vrctl packets watch with args, writing an ARP and a DNS record every 100 ms until it exits */
  async function watchOut(...args: string[]): Promise<string> {
    const p = spawn(process.execPath, [CLI, '--socket', daemon.socketPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = once(p, 'close');
    // the watch is in place some time after start: write until it has what it wants
    for (let i = 0; p.exitCode === null && i < 100; i++) {
      writer.write(trap('arp', i));
      writer.write(trap('dns', i, eth(topo.pods[0].hostMac, topo.pods[0].mac, 0x0800, ipv4(topo.pods[0].ip4, '10.10.1.1', 17, udp(3333, 53, Buffer.alloc(20))))));
      await new Promise((r) => setTimeout(r, 100));
    }
    const [code] = (await exited) as [number];
    assert.equal(code, 0);
    return stdout;
  }

  it('packets watch --count: a header, then one decoded packet a line', async () => {
    const [head, line, ...rest] = (await watchOut('packets', 'watch', '--reason', 'dns', '--count', '1')).trimEnd().split('\n');
    assert.match(head!, /^TIME\s+VIF\s+VRF\s+REASON\s+HOOK\s+LEN\s+FRAME$/);
    assert.match(line!, /^\d+\.\d{6}\s+[12]\s+1\s+dns\s+(xdp|tc)\s+\d+(\/\d+)?\s+eth .* ipv4 10\.10\.1\.2 > 10\.10\.1\.1 .*udp 3333 > 53$/);
    assert.deepEqual(rest, []);
  });

  it('packets watch --json --count: one TrappedPacket a line', async () => {
    const stdout = await watchOut('--json', 'packets', 'watch', '--reason', 'dns', '--count', '2');
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { reason: string; interfaceIndex: number; frame: string });
    assert.equal(lines.length, 2);
    for (const l of lines) assert.equal(l.reason, 'TRAP_REASON_DNS');
    assert.equal(Buffer.from(lines[0]!.frame, 'base64').length, 62);
  });
});

describe('a daemon that adopts the datapath', () => {
  it('writes its own --trap and --hold-per-flow again', async () => {
    await c.packets.setTrapRules({ rules: [TrapReason.ARP] });
    await daemon.stop();
    daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host, extraArgs: ['--trap', 'nd,rs', '--hold-per-flow', '2'] });
    c = await daemon.start();
    assert.deepEqual(readConfig(), { holdPerFlow: 2, trapMask: TRAP_F.ND | TRAP_F.RS });
    assert.deepEqual((await c.packets.getTrapRules({})).rules, [TrapReason.ND, TrapReason.RS]);
  });
});
