/**
 * The capabilities the deployment files grant are the ones the daemon
 * needs, run for real: the daemon under the systemd unit's
 * CapabilityBoundingSet (setpriv, nothing else) loads, attaches at TC and
 * XDP, traces and sends; without CAP_SYS_ADMIN it does the same and loses
 * only batch re-injection (a warning); without any one of the others it
 * refuses to start, naming the call the kernel refused.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { Lab } from '../../lab/topology.ts';
import { BPFFS_LAB_ROOT } from '../../lab/daemon.ts';
import { DAEMON_NODE_FLAGS } from '../../src/config.ts';
import { DatagramReceiver } from '../../src/bpf/unix-datagram.ts';
import { runVrctl } from '../helpers/vrctl-run.ts';
import { CAPABILITIES, OPTIONAL_CAPABILITIES, ROOT, readUnit, unitValue } from '../helpers/deploy-files.ts';

/** the kernel's capability numbers (linux/capability.h) */
const CAP_NUMBER: Record<string, number> = { CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_SYS_ADMIN: 21, CAP_PERFMON: 38, CAP_BPF: 39 };

let lab: Lab;
let host: string;
let dir: string;
let rx: DatagramReceiver;
let n = 0;

interface Run {
  proc: ChildProcess;
  instance: string;
  socket: string;
  log: () => string;
  /** exit code when it stopped before READY=1; undefined: ready */
  exited: number | null | undefined;
}

/** start: the daemon with exactly `caps` (bounding set, nothing inherited), until READY=1 or its exit (bounded). */
async function start(caps: readonly string[]): Promise<Run> {
  const instance = `${lab.prefix}-c${n++}`;
  const socket = join(dir, `${instance}.sock`);
  const set = ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
  process.env.NOTIFY_SOCKET = rx.path;
  let proc: ChildProcess;
  try {
    proc = lab.spawnIn(host, 'setpriv', ['--bounding-set', set, '--inh-caps', '-all', process.execPath, ...DAEMON_NODE_FLAGS, join(ROOT, 'src/main.ts'),
      '--instance', instance, '--bpffs-root', BPFFS_LAB_ROOT, '--socket', socket, '--metrics', '']);
  } finally {
    delete process.env.NOTIFY_SOCKET;
  }
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  for (const end = Date.now() + 30_000; Date.now() < end; await sleep(20)) {
    const d = rx.tryRecv();
    if (d?.toString().includes('READY=1')) return { proc, instance, socket, log: () => out, exited: undefined };
    if (proc.exitCode !== null) return { proc, instance, socket, log: () => out, exited: await exit };
  }
  proc.kill('SIGKILL');
  throw new Error(`daemon with ${set} neither ready nor gone in 30 s:\n${out}`);
}

async function stop(r: Run): Promise<void> {
  if (r.proc.exitCode === null && r.proc.signalCode === null) {
    const done = new Promise((resolve) => r.proc.once('exit', resolve));
    r.proc.kill('SIGTERM');
    await done;
  }
  rmSync(join(BPFFS_LAB_ROOT, r.instance), { recursive: true, force: true });
}

/** effective: the capability names in a process's CapEff */
function effective(pid: number): string[] {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  const mask = BigInt(`0x${hex}`);
  return Object.entries(CAP_NUMBER).filter(([, bit]) => (mask >> BigInt(bit)) & 1n).map(([name]) => name).sort();
}

const fatal = (log: string) => log.split('\n').filter((l) => l.includes('"level":60')).map((l) => (JSON.parse(l) as { err?: { message: string } }).err?.message ?? '').join('\n');

/** works: what an agent does first, through vrctl: TC and XDP vifs, a next hop, a route, a trace, a sent frame. */
async function works(r: Run): Promise<void> {
  const frame = '020000000001020000000002080045000014000000004011000ac0a801010a000001';
  for (const args of [
    ['vif', 'add', '1', '--name', 'cap0', '--hook', 'tc'],
    ['vif', 'add', '2', '--name', 'cap1', '--hook', 'xdp', '--mode', 'generic'],
    ['nh', 'add', '11', 'encap', '--vif', '2', '--dst-mac', '02:00:00:00:00:01'],
    ['rt', 'add', '0', '10.0.0.0/8', '--nh', '11'],
    ['trace', '--vif', '1', '--hex', frame],
    ['send', '--vif', '1', '--hex', frame],
    ['vif', 'del', '1'],
    ['rt', 'del', '0', '10.0.0.0/8'],
    ['nh', 'del', '11'],
    ['vif', 'del', '2'],
  ]) {
    const res = await runVrctl(['--socket', r.socket, ...args]);
    assert.equal(res.code, 0, `vrctl ${args.join(' ')}: ${res.stderr}\n${r.log()}`);
  }
}

before(() => {
  lab = new Lab('vrcap');
  host = lab.ns('host');
  lab.ip(host, ['link', 'add', 'cap0', 'type', 'veth', 'peer', 'name', 'cap1']);
  for (const i of ['cap0', 'cap1']) lab.ip(host, ['link', 'set', i, 'up']);
  dir = mkdtempSync(join(tmpdir(), 'vr-caps-'));
  rx = DatagramReceiver.bind(join(dir, 'notify.sock'));
});

after(() => {
  rx?.close();
  lab?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('capabilities', () => {
  it('the unit grants the documented set', () => {
    const unit = readUnit();
    assert.deepEqual(unitValue(unit, 'Service', 'CapabilityBoundingSet')!.split(/\s+/).sort(), [...CAPABILITIES].sort());
  });

  it('with the unit\'s capabilities alone the daemon does all of it, batch re-injection included', async () => {
    const r = await start(CAPABILITIES);
    try {
      assert.equal(r.exited, undefined, r.log());
      assert.deepEqual(effective(r.proc.pid!), [...CAPABILITIES].sort());
      await works(r);
      assert.doesNotMatch(r.log(), /batch re-injection not loaded/);
    } finally {
      await stop(r);
    }
  });

  it('without CAP_SYS_ADMIN it does the same, held frames going back one run each', async () => {
    const r = await start(CAPABILITIES.filter((c) => !(OPTIONAL_CAPABILITIES as readonly string[]).includes(c)));
    try {
      assert.equal(r.exited, undefined, r.log());
      await works(r);
      assert.match(r.log(), /batch re-injection not loaded/);
    } finally {
      await stop(r);
    }
  });

  const required = CAPABILITIES.filter((c) => !(OPTIONAL_CAPABILITIES as readonly string[]).includes(c));
  const refusal: Record<string, RegExp> = {
    CAP_BPF: /bpf_object__load.*EPERM/,
    CAP_NET_ADMIN: /bpf_object__load.*EPERM/,
    CAP_PERFMON: /bpf_object__load.*EACCES/, // the verifier: pointer arithmetic prohibited
    CAP_NET_RAW: /socket\(AF_PACKET\): EPERM/,
  };
  for (const cap of required) {
    it(`without ${cap} it refuses to start, naming the refused call`, async () => {
      const r = await start(required.filter((c) => c !== cap));
      try {
        assert.equal(r.exited, 1, r.log());
        assert.match(fatal(r.log()), refusal[cap]!);
      } finally {
        await stop(r);
      }
    });
  }
});
