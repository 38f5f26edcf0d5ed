/**
 * The config file on a real daemon: it starts with the file's values (a
 * flag beating the file); SIGHUP applies the live options (trap rules and
 * hold-per-flow in vr_config, the log level of every component, the flow
 * and hold timeouts) and logs the ones that need a restart, which keep
 * their started values; a file turned invalid is refused, naming the key,
 * and the daemon serves on unchanged. A bad file or value at start: the
 * daemon exits 2 naming the key, before touching anything.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { Lab } from '../../lab/topology.ts';
import { BPFFS_LAB_ROOT, LabDaemon } from '../../lab/daemon.ts';
import type { VrouterClient } from '../../src/client/client.ts';
import { BpfMap } from '../../src/bpf/map.ts';
import { ConfigTable } from '../../src/maps/tables/config-table.ts';
import { TrapReason } from '../../src/gen/vrouter/ebpf/v1/packet_pb.js';
import { DAEMON_NODE_FLAGS } from '../../src/config.ts';
import { rejects } from '../helpers/grpc-status.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

let lab: Lab;
let daemon: LabDaemon;
let c: VrouterClient;
let dir: string;
let cfgPath: string;

type LogLine = { level: number; msg: string; component?: string } & Record<string, unknown>;
const lines = (): LogLine[] => daemon.log.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);

/** logged: the first log line (after `skip` lines) whose msg matches, within a bounded wait */
async function logged(re: RegExp, skip = 0, boundMs = 10_000): Promise<LogLine> {
  for (const end = Date.now() + boundMs; Date.now() < end; await sleep(20)) {
    const l = lines().slice(skip).find((x) => re.test(x.msg));
    if (l) return l;
  }
  throw new Error(`no log line ${re} within ${boundMs} ms:\n${daemon.log}`);
}

function vrConfig() {
  const m = BpfMap.open(join(BPFFS_LAB_ROOT, lab.prefix, 'maps', 'vr_config'));
  try {
    return new ConfigTable(m).read();
  } finally {
    m.close();
  }
}

/** a refused call: the API logs it at debug (and nothing at info) */
const refusedCall = () => rejects(c.interfaces.getInterface({ index: 999 }), status.NOT_FOUND);
const debugRefusals = (skip: number) => lines().slice(skip).filter((l) => l.level === 20 && l.msg === 'call refused');

before(async () => {
  lab = new Lab('vrcfg');
  const host = lab.ns('host');
  dir = mkdtempSync(join(tmpdir(), 'vr-config-e2e-'));
  cfgPath = join(dir, 'config.yaml');
  writeFileSync(cfgPath, 'log-level: info\nmax-routes: 64\ntrap: none\nhold-per-flow: 3\nflow-idle-udp: 60\nhold-timeout: 5000\nmetrics: ""\n');
  // hold-timeout also given as a flag: the flag wins over the file, at start and at reload
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: host, extraArgs: ['--config', cfgPath, '--hold-timeout', '4000'] });
  c = await daemon.start();
});

after(async () => {
  await daemon?.destroy();
  lab?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('config file and SIGHUP', () => {
  it('starts with the file\'s values, a flag beating the file', async () => {
    const sys = await c.system.getSystemInfo({});
    assert.equal(sys.maps.find((m) => m.name === 'vr_rt4')?.capacity, 64);
    assert.deepEqual((await c.packets.getTrapRules({})).rules, []);
    assert.equal(vrConfig().holdPerFlow, 3);
    const read = await logged(/^config file read$/);
    assert.deepEqual(read.shadowed, ['hold-timeout']);
    const before = lines().length;
    await refusedCall();
    await sleep(100);
    assert.deepEqual(debugRefusals(before), [], 'log-level info: no debug lines');
  });

  it('SIGHUP applies the live options and logs the rest as needing a restart', async () => {
    writeFileSync(cfgPath, [
      'log-level: debug', 'max-routes: 128', 'trap: [arp, dhcp]', 'hold-per-flow: 5', 'flow-idle-udp: 10', 'hold-timeout: 2000', 'metrics: ""',
      'max-flows: 2048', '',
    ].join('\n'));
    const skip = lines().length;
    daemon.proc!.kill('SIGHUP');
    const done = await logged(/^config reloaded/, skip);
    assert.equal(done.level, 30);
    assert.equal(done.msg, 'config reloaded: changed trap, hold-per-flow, flow-idle-udp, log-level');
    assert.deepEqual(done.changed, {
      'log-level': { from: 'info', to: 'debug' },
      trap: { from: [], to: ['arp', 'dhcp'] },
      'hold-per-flow': { from: 3, to: 5 },
      'flow-idle-udp': { from: 60_000, to: 10_000 },
    });
    const restart = await logged(/needs a restart/, skip);
    assert.equal(restart.level, 40);
    assert.equal(restart.msg, 'config keys not applied, each needs a restart: max-routes, max-flows');
    // hold-timeout changed in the file, but the flag still wins: not a change
    assert.deepEqual((await logged(/overridden by flags/, skip)).shadowed, ['hold-timeout']);

    assert.deepEqual((await c.packets.getTrapRules({})).rules, [TrapReason.ARP, TrapReason.DHCP]);
    assert.equal(vrConfig().holdPerFlow, 5);
    assert.equal(vrConfig().trapMask !== 0, true);
    const sys = await c.system.getSystemInfo({});
    assert.equal(sys.maps.find((m) => m.name === 'vr_rt4')?.capacity, 64, 'the table keeps its size until a restart');
    // the api component's logger (a child made at start) follows the new level
    const n = lines().length;
    await refusedCall();
    for (const end = Date.now() + 5000; !debugRefusals(n).length && Date.now() < end; ) await sleep(20);
    assert.equal(debugRefusals(n)[0]?.component, 'api');
  });

  it('a second SIGHUP with nothing new changes nothing, and still reports the pending restart', async () => {
    const skip = lines().length;
    daemon.proc!.kill('SIGHUP');
    assert.equal((await logged(/^config reloaded/, skip)).msg, 'config reloaded: nothing to change');
    assert.match((await logged(/needs a restart/, skip)).msg, /max-routes, max-flows$/);
  });

  it('an invalid file at SIGHUP is refused naming the key; the daemon serves on with what it had', async () => {
    for (const [text, reason] of [
      ['log-level: info\ntls:\n  cert: /x\n', `config file ${cfgPath}: unknown key tls.cert`],
      ['log-level: info\nflow-idle-tcp: forever\n', `config file ${cfgPath}: flow-idle-tcp: want seconds in (0, 86400], got "forever"`],
    ] as const) {
      writeFileSync(cfgPath, text);
      const skip = lines().length;
      daemon.proc!.kill('SIGHUP');
      const l = await logged(/^config not reloaded/, skip);
      assert.equal(l.level, 50);
      assert.equal(l.reason, reason);
      assert.equal(daemon.proc!.exitCode, null);
    }
    assert.deepEqual((await c.packets.getTrapRules({})).rules, [TrapReason.ARP, TrapReason.DHCP]);
    assert.equal(vrConfig().holdPerFlow, 5);
    await c.waitReady(2000);
  });
});

describe('refused at start', () => {
  const start = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [...DAEMON_NODE_FLAGS, MAIN, '--bpffs-root', join(dir, 'never'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });

  it('an unknown key, a bad value, a file that is not there: exit 2, the key named', () => {
    const bad = (text: string) => {
      const p = join(dir, `bad-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(p, text);
      return p;
    };
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [['--config', bad('foo:\n  bar: 1\n')], {}, /: unknown key foo\.bar\n/],
      [[], { VROUTER_EBPFD_CONFIG: bad('max-routes: 0\n') }, /: max-routes: want a positive integer, got "0"\n/],
      [['--config', join(dir, 'absent.yaml')], {}, /config file .*absent\.yaml: ENOENT\n/],
      [['--config', bad('grpc-tcp: 127.0.0.1:50999\n')], {}, /: grpc-tcp: TCP is served with TLS only/],
    ];
    for (const [args, env, re] of cases) {
      const r = start(args, env);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.match(r.stderr, /^vrouter-ebpfd: /);
    }
  });

  it('--help names --config and the file', () => {
    const r = start(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /--config +YAML config file/);
    assert.match(r.stdout, /SIGHUP/);
  });
});
