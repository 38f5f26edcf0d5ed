/**
 * /metrics as Prometheus sees it, on a real daemon in the two-pods lab:
 * promtool (Debian's prometheus package) accepts the exposition, and a real
 * Prometheus server, on a random loopback port in the lab's host namespace
 * with a throwaway config and data directory, scrapes the daemon: PromQL
 * through its HTTP API sees a vif's rx counter move with pings, the per-VRF
 * sum (a join on vrouter_interface_info), map usage against capacity for
 * every map, and the gRPC calls that programmed the pods. The daemon runs
 * with --log-level debug --log-pretty: its log shows each datapath change.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Lab, sh } from '../../lab/topology.ts';
import { LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, programTwoPods, VRF, type TwoPods } from '../../lab/two-pods.ts';
import { MAP_NAMES } from '../../src/maps/layout.ts';

const METRICS = '127.0.0.1:9478';
/** how long Prometheus may take to show a scrape (its interval is 1 s) */
const SCRAPE_WAIT_MS = 30_000;

let lab: Lab;
let topo: TwoPods;
let daemon: LabDaemon;
let prom: ChildProcess | undefined;
let promDir = '';
let promAddr = '';
let promLog = '';

/** get: an HTTP GET from inside the lab's host namespace (where the daemon and Prometheus listen); the body */
function get(url: string): string {
  const js = `fetch(${JSON.stringify(url)}).then(async r => { if (!r.ok) throw new Error(r.status + ' ' + await r.text()); process.stdout.write(await r.text()); })`;
  return lab.exec(topo.host, process.execPath, ['-e', js]);
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** query: an instant PromQL query through Prometheus' HTTP API */
function query(q: string): Sample[] {
  const body = JSON.parse(get(`http://${promAddr}/api/v1/query?query=${encodeURIComponent(q)}`)) as { status: string; data: { resultType: string; result: Sample[] } };
  assert.equal(body.status, 'success', q);
  assert.equal(body.data.resultType, 'vector', q);
  return body.data.result;
}

/** until: polls fn until it returns a value (not undefined), for at most ms */
async function until<T>(what: string, fn: () => T | undefined, ms = SCRAPE_WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms\nprometheus log:\n${promLog.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function freePort(): number {
  const js = 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})';
  return Number(lab.exec(topo.host, process.execPath, ['-e', js]));
}

before(async () => {
  lab = new Lab('vrmet');
  topo = buildTwoPods(lab);
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host, extraArgs: ['--metrics', METRICS, '--log-level', 'debug', '--log-pretty'] });
  const c = await daemon.start();
  await programTwoPods(c, topo);
});

after(async () => {
  if (prom && prom.exitCode === null && prom.signalCode === null) {
    const exited = new Promise((r) => prom!.once('exit', r));
    prom.kill('SIGTERM');
    const t = setTimeout(() => prom!.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
  if (promDir) rmSync(promDir, { recursive: true, force: true });
  await daemon?.destroy();
  lab?.cleanup();
});

describe('promtool', () => {
  it('check metrics accepts the daemon\'s /metrics after traffic and API calls', () => {
    lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2);
    const text = get(`http://${METRICS}/metrics`);
    // the series whose lint matters are there: counters, gauges with labels, the call histograms
    for (const m of ['vrouter_drops_total', 'vrouter_map_entries', 'vrouter_grpc_server_handling_seconds_bucket', 'vrouter_ebpfd_nodejs_active_handles'])
      assert.match(text, new RegExp(`^${m}[{ ]`, 'm'), m);
    // exit 0 and nothing said: no error, no lint warning
    const out = sh('promtool', ['check', 'metrics'], { input: text });
    assert.equal(out.trim(), '');
  });
});

describe('a real Prometheus scraping the daemon', () => {
  before(async () => {
    promDir = mkdtempSync(join(tmpdir(), 'vr-prometheus-'));
    promAddr = `127.0.0.1:${freePort()}`;
    const config = join(promDir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        'scrape_configs:',
        '  - job_name: vrouter-ebpfd',
        '    static_configs:',
        `      - targets: ['${METRICS}']`,
        '',
      ].join('\n'),
    );
    prom = lab.spawnIn(topo.host, 'prometheus', [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=${promAddr}`,
      '--log.level=warn',
    ]);
    prom.stdout?.on('data', (d: Buffer) => (promLog += d.toString()));
    prom.stderr?.on('data', (d: Buffer) => (promLog += d.toString()));
    await until('prometheus ready', () => {
      if (prom!.exitCode !== null) throw new Error(`prometheus exited with ${prom!.exitCode}:\n${promLog}`);
      try {
        get(`http://${promAddr}/-/ready`);
        return true;
      } catch {
        return undefined;
      }
    });
    await until('the daemon scraped', () => (query('up{job="vrouter-ebpfd"} == 1').length ? true : undefined));
  });

  const value = (q: string): number | undefined => {
    const r = query(q);
    return r.length === 1 ? Number(r[0]!.value[1]) : undefined;
  };

  it('a vif\'s rx counter moves with pings, and so does its VRF\'s sum', async () => {
    const rx = 'vrouter_interface_rx_packets_total{job="vrouter-ebpfd",vif="1",name="veth-p1"}';
    const before = await until('vif 1 rx in prometheus', () => value(rx));
    lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 5);
    const after = await until('vif 1 rx moved', () => {
      const v = value(rx);
      return v !== undefined && v >= before + 5 ? v : undefined;
    });
    assert.ok(after >= before + 5, `${before} -> ${after}`);
    // per VRF: the vifs' counters joined to their VRF (the datapath counts per vif)
    const perVrf = query('sum by (vrf) (vrouter_interface_rx_packets_total * on (vif) group_left (vrf) vrouter_interface_info)');
    assert.deepEqual(perVrf.map((s) => s.metric.vrf), [String(VRF)]);
    assert.ok(Number(perVrf[0]!.value[1]) >= after, 'vif 1 is in the sum');
    assert.ok((value('increase(vrouter_interface_tx_packets_total{vif="2"}[1m])') ?? 0) > 0, 'vif 2 sent the echo requests on');
  });

  it('map usage against capacity, one series per map', () => {
    const ratio = query('vrouter_map_entries / vrouter_map_capacity');
    assert.deepEqual(ratio.map((s) => s.metric.map).sort(), [...MAP_NAMES].sort());
    for (const s of ratio) assert.ok(Number(s.value[1]) >= 0 && Number(s.value[1]) <= 1, `${s.metric.map}: ${s.value[1]}`);
    assert.equal(value('vrouter_map_entries{map="vr_vifs"}'), 2);
  });

  it('the gRPC calls that programmed the pods, by method and code, with their latency', () => {
    // programTwoPods: per pod two pod routes and two gateway routes
    assert.equal(value('vrouter_grpc_server_handled_total{service="vrouter.ebpf.v1.RouteService",method="AddRoute",type="unary",code="OK"}'), 8);
    assert.equal(value('vrouter_grpc_server_handling_seconds_count{method="AddRoute"}'), 8);
    assert.equal(value('vrouter_grpc_server_handling_seconds_bucket{method="AddRoute",le="+Inf"}'), 8);
    assert.equal(value('vrouter_grpc_server_handled_total{method="AddInterface",code="OK"}'), 2);
  });
});

describe('the debug log', () => {
  it('--log-pretty --log-level debug: each datapath change with its key, as lines for a terminal', () => {
    const log = daemon.log;
    assert.match(log, /DEBUG \(name=veth-p1\): \[manager\] datapath change\n\s+object: "vif"\n\s+action: "add"\n\s+vif: 1\n/);
    assert.match(log, /\[manager\] datapath change\n\s+object: "nh"\n\s+action: "add"\n\s+nh: 12\n/);
    assert.match(log, /\[manager\] datapath change\n\s+object: "route"\n\s+action: "add"\n\s+vrf: 1\n\s+prefix: "10\.10\.2\.2\/32"\n\s+nh: 12\n/);
    assert.doesNotMatch(log, /^\{"level"/m, 'no JSON lines');
  });
});
