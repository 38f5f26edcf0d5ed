/**
 * FlowService against a real daemon (its own namespace, a flow table of 6
 * entries): SetFlow / GetFlow / ListFlows / DeleteFlow on the pinned
 * vr_flows, bad inputs answered with the right status naming the field,
 * the full table (RESOURCE_EXHAUSTED, nothing written, an action still
 * changed in place), GetSystemInfo's usage, reflection, and `vrctl flow`
 * as an operator runs it (tables, --json, exit codes).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runVrctl } from '../helpers/vrctl-run.ts';
import { status } from '@grpc/grpc-js';
import { Lab } from '../../lab/topology.ts';
import { LabDaemon } from '../../lab/daemon.ts';
import type { VrouterClient } from '../../src/client/client.ts';
import { FlowAction } from '../../src/gen/vrouter/ebpf/v1/flow_pb.js';
import { rejects } from '../helpers/grpc-status.ts';

const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));
const MAX_FLOWS = 6;

let lab: Lab;
let daemon: LabDaemon;
let c: VrouterClient;

before(async () => {
  lab = new Lab('vrflw');
  const host = lab.ns('host');
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: host, extraArgs: ['--max-flows', String(MAX_FLOWS), '--max-vrfs', '16'] });
  c = await daemon.start();
});

after(async () => {
  await daemon?.destroy();
  lab?.cleanup();
});

const key = (extra: Record<string, unknown> = {}) => ({ vrf: 1, protocol: 6, srcIp: '10.1.1.2', dstIp: '10.1.2.2', srcPort: 40000, dstPort: 80, ...extra });
const spec = (k: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({ key: key(k), action: FlowAction.FORWARD, ...extra });

async function used(): Promise<number | undefined> {
  return (await c.system.getSystemInfo({})).maps.find((m) => m.name === 'vr_flows')?.used;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function vrctl(...args: string[]): Promise<Run> {
  return runVrctl(['--socket', daemon.socketPath, ...args]);
}

describe('FlowService on a real daemon', () => {
  it('sets, reads, lists and deletes a NAT flow in the pinned table', async () => {
    const r = await c.flows.setFlow({ flow: spec({}, { action: FlowAction.NAT, nat: { dstIp: '10.1.3.3', dstPort: 8080 } }) });
    assert.equal(r.created, true);
    assert.deepEqual(r.reverse?.key, { ...r.reverse?.key, srcIp: '10.1.3.3', srcPort: 8080, dstIp: '10.1.1.2', dstPort: 40000 });
    assert.equal((await c.flows.getFlow({ key: key() })).pair?.isReverse, true);
    const all = await c.flows.listFlows({});
    assert.deepEqual(all.flows.map((f) => f.isReverse).sort(), [false, true]);
    assert.equal(all.nextPageToken, '');
    const sys = (await c.system.getSystemInfo({})).maps.find((m) => m.name === 'vr_flows');
    assert.deepEqual([sys?.capacity, sys?.used, sys?.type], [MAX_FLOWS, 2, 'hash']);
    assert.equal((await c.flows.deleteFlow({ key: r.reverse!.key! })).entriesDeleted, 2);
    assert.equal((await c.flows.listFlows({})).flows.length, 0);
  });

  it('answers every bad input with its status naming the field, and writes nothing', async () => {
    await rejects(c.flows.setFlow({ flow: spec({ srcIp: 'x'.repeat(1 << 20) }) }), status.INVALID_ARGUMENT, 'flow.key.src_ip');
    await rejects(c.flows.setFlow({ flow: spec({ vrf: 16 }) }), status.INVALID_ARGUMENT, 'flow.key.vrf');
    await rejects(c.flows.setFlow({ flow: spec({ dstIp: 'fd00::1' }) }), status.INVALID_ARGUMENT, 'flow.key.dst_ip');
    await rejects(c.flows.setFlow({ flow: spec({ protocol: 1, dstPort: 80 }) }), status.INVALID_ARGUMENT, 'flow.key.dst_port');
    await rejects(c.flows.setFlow({ flow: spec({}, { action: FlowAction.HOLD }) }), status.INVALID_ARGUMENT, 'flow.action');
    await rejects(c.flows.setFlow({ flow: spec({}, { action: FlowAction.NAT }) }), status.INVALID_ARGUMENT, 'flow.nat');
    await rejects(c.flows.setFlows({ flows: [spec(), spec({ srcPort: 1 }), spec({ srcPort: 1 })] }), status.INVALID_ARGUMENT, 'flows[2].key');
    await rejects(c.flows.getFlow({ key: key() }), status.NOT_FOUND, 'key');
    await rejects(c.flows.deleteFlow({ key: key() }), status.NOT_FOUND, 'key');
    await rejects(c.flows.listFlows({ pageToken: 'AAAA' }), status.INVALID_ARGUMENT, 'page_token');
    assert.equal(await used(), 0);
  });

  it('a full table: RESOURCE_EXHAUSTED naming vr_flows, nothing of the call written; an action still changes in place', async () => {
    await c.flows.setFlows({ flows: [spec(), spec({ srcPort: 1 }), spec({ srcPort: 2 })] });
    assert.equal(await used(), MAX_FLOWS);
    await rejects(c.flows.setFlow({ flow: spec({ srcPort: 3 }) }), status.RESOURCE_EXHAUSTED, undefined, /vr_flows/);
    await rejects(c.flows.setFlows({ flows: [spec({ srcPort: 4 }), spec({ srcPort: 5 })] }), status.RESOURCE_EXHAUSTED);
    assert.equal((await c.flows.listFlows({})).flows.length, MAX_FLOWS);
    const r = await c.flows.setFlow({ flow: spec({ srcPort: 1 }, { action: FlowAction.DROP }) });
    assert.deepEqual([r.created, r.flow?.action, r.reverse?.action], [false, FlowAction.DROP, FlowAction.DROP]);
    // pages of 4 over 6 entries, then the flows deleted through a programming transaction
    const p1 = await c.flows.listFlows({ pageSize: 4 });
    const p2 = await c.flows.listFlows({ pageSize: 4, pageToken: p1.nextPageToken });
    assert.equal(new Set([...p1.flows, ...p2.flows].map((f) => JSON.stringify(f.key))).size, MAX_FLOWS);
    const tx = await c.program.apply({ atomic: true, ops: [0, 1, 2].map((p) => ({ op: { case: 'deleteFlow' as const, value: { key: key(p ? { srcPort: p } : {}) } } })) });
    assert.deepEqual(tx.results.map((x) => [x.code, x.message]), [[0, ''], [0, ''], [0, '']]);
    assert.equal(await used(), 0);
  });

  it('FlowService is listed by reflection', () => {
    const methods = execFileSync(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--unix-socket', daemon.socketPath, '--list-methods', 'http://localhost'], { encoding: 'utf8', timeout: 30_000 });
    for (const m of ['SetFlow', 'SetFlows', 'DeleteFlow', 'GetFlow', 'ListFlows', 'WatchFlowMisses', 'WatchFlowEvents'])
      assert.ok(methods.includes(`vrouter.ebpf.v1.FlowService/${m}`), m);
  });
});

describe('vrctl flow', () => {
  const K = ['--vrf', '1', '--proto', 'tcp', '--src', '10.1.1.2', '--sport', '40000', '--dst', '10.1.2.2', '--dport', '80'];

  it('set, get, list and delete, as tables and --json', async () => {
    const set = await vrctl('flow', 'set', ...K, '--action', 'nat', '--nat-src', '192.0.2.1', '--nat-sport', '50000');
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /flow vrf 1 tcp 10\.1\.1\.2:40000 > 10\.1\.2\.2:80 set to nat \(created; reverse vrf 1 tcp 10\.1\.2\.2:80 > 192\.0\.2\.1:50000\)/);
    const get = await vrctl('flow', 'get', ...K);
    assert.equal(get.code, 0, get.stderr);
    const lines = get.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^VRF\s+PROTO\s+SOURCE\s+DESTINATION\s+ACTION\s+NAT\s+DIR\s+PKTS\s+BYTES\s+IDLE-MS\s+HOLD-ID$/);
    assert.match(lines[1]!, /^\s*1\s+tcp\s+10\.1\.1\.2:40000\s+10\.1\.2\.2:80\s+nat\s+src=192\.0\.2\.1:50000\s+fwd\s+0\s+0\s+\d+\s+-$/);
    assert.match(lines[2]!, /10\.1\.2\.2:80\s+192\.0\.2\.1:50000\s+nat\s+dst=10\.1\.1\.2:40000\s+rev/);
    const list = await vrctl('--json', 'flow', 'list', '--vrf', '1', '--proto', 'tcp');
    assert.equal(list.code, 0, list.stderr);
    const flows = JSON.parse(list.stdout) as { key: { srcIp: string }; action: string; isReverse: boolean }[];
    assert.deepEqual(flows.map((f) => [f.key.srcIp, f.action, f.isReverse]).sort(), [['10.1.1.2', 'FLOW_ACTION_NAT', false], ['10.1.2.2', 'FLOW_ACTION_NAT', true]]);
    const del = await vrctl('flow', 'delete', ...K);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /deleted \(2 entries\)/);
  });

  it('exit codes: 1 with the status and field on one line, 2 for a bad command line', async () => {
    const absent = await vrctl('flow', 'get', ...K);
    assert.equal(absent.code, 1);
    assert.match(absent.stderr, /^vrctl: NOT_FOUND: key: no flow /);
    const bad = await vrctl('flow', 'set', ...K.slice(0, -2), '--dport', '99999', '--action', 'forward');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^vrctl: INVALID_ARGUMENT: flow\.key\.dst_port: /);
    const usage = await vrctl('flow', 'set', ...K);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--action is required/);
    const noKey = await vrctl('flow', 'get', '--proto', 'tcp');
    assert.equal(noKey.code, 2);
  });
});
