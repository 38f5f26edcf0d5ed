/**
 * Readiness as systemd and Kubernetes see it, on a real daemon: under a
 * fake NOTIFY_SOCKET (what a Type=notify unit gives) the daemon sends
 * READY=1 with its pid once its API answers, and STOPPING=1 on SIGTERM;
 * `vrctl health` (the DaemonSet's exec probe, its command read from
 * deploy/kubernetes/daemonset.yaml) exits 0 on SERVING and 1
 * otherwise; a notify socket nobody listens on costs a warning, not the
 * daemon.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../lab/topology.ts';
import { LabDaemon } from '../../lab/daemon.ts';
import { DatagramReceiver } from '../../src/bpf/unix-datagram.ts';
import { runVrctl } from '../helpers/vrctl-run.ts';
import { parse } from 'yaml';
import { ROOT } from '../helpers/deploy-files.ts';

let lab: Lab;
let daemon: LabDaemon;
let dir: string;
let rx: DatagramReceiver;

/** the DaemonSet's liveness probe command (deploy/kubernetes/daemonset.yaml), vrctl's arguments only */
function probeArgs(): string[] {
  const ds = parse(readFileSync(`${ROOT}deploy/kubernetes/daemonset.yaml`, 'utf8')) as { spec: { template: { spec: { containers: { livenessProbe: { exec: { command: string[] } } }[] } } } };
  const cmd = ds.spec.template.spec.containers[0]!.livenessProbe.exec.command;
  assert.equal(cmd[0], 'vrctl');
  return cmd.slice(1);
}

/** nextDatagram: the next message on the fake notify socket, as KEY → value (bounded wait). */
async function nextDatagram(boundMs = 15_000): Promise<Map<string, string>> {
  for (const end = Date.now() + boundMs; Date.now() < end; await sleep(20)) {
    const d = rx.tryRecv();
    if (d) return new Map(d.toString().trimEnd().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }
  throw new Error(`no datagram on ${rx.path} within ${boundMs} ms:\n${daemon.log}`);
}

/** withNotifySocket: starts the daemon with NOTIFY_SOCKET set for it alone. */
async function startWith(notifySocket: string): Promise<void> {
  process.env.NOTIFY_SOCKET = notifySocket;
  try {
    await daemon.start();
  } finally {
    delete process.env.NOTIFY_SOCKET;
  }
}

before(() => {
  lab = new Lab('vrntf');
  const host = lab.ns('host');
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: host, extraArgs: ['--metrics', ''] });
  dir = mkdtempSync(join(tmpdir(), 'vr-notify-'));
  // a path, not an abstract name: the daemon runs in another network namespace, and abstract unix names are per namespace
  rx = DatagramReceiver.bind(join(dir, 'notify.sock'));
});

after(async () => {
  rx?.close();
  await daemon?.destroy();
  lab?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('systemd notify and the health probe', () => {
  it('sends READY=1 with its pid once the API answers, then STOPPING=1 on SIGTERM', async () => {
    await startWith(rx.path);
    const ready = await nextDatagram();
    assert.equal(ready.get('READY'), '1');
    assert.equal(ready.get('MAINPID'), String(daemon.proc!.pid));
    assert.equal(ready.get('STATUS'), `serving on ${daemon.socketPath}`);

    // the DaemonSet's probe, as the kubelet runs it (the socket: the daemon's default there)
    const health = await runVrctl(['--socket', daemon.socketPath, ...probeArgs()]);
    assert.deepEqual([health.code, health.stdout, health.stderr], [0, 'SERVING\n', '']);
    const route = await runVrctl(['--socket', daemon.socketPath, '--json', 'health', 'vrouter.ebpf.v1.RouteService']);
    assert.equal(route.code, 0, route.stderr);
    assert.deepEqual(JSON.parse(route.stdout), { status: 'SERVING' });
    const unknown = await runVrctl(['--socket', daemon.socketPath, 'health', 'no.such.Service']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^vrctl: NOT_FOUND: /);

    assert.equal(await daemon.stop('SIGTERM'), 0);
    assert.equal((await nextDatagram()).get('STOPPING'), '1');
    // the probe of a stopped daemon fails
    const down = await runVrctl(['--socket', daemon.socketPath, ...probeArgs()]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^vrctl: UNAVAILABLE: .*is vrouter-ebpfd serving on/);
  });

  it('serves all the same when nothing listens on NOTIFY_SOCKET, and says so in its log', async () => {
    await startWith(join(dir, 'nobody.sock'));
    const health = await runVrctl(['--socket', daemon.socketPath, 'health']);
    assert.equal(health.code, 0, health.stderr);
    const warn = daemon.log.split('\n').filter((l) => l.includes('could not notify systemd')).map((l) => JSON.parse(l) as { level: number; err: { message: string } });
    assert.equal(warn.length, 1, daemon.log);
    assert.equal(warn[0]!.level, 40);
    assert.match(warn[0]!.err.message, /ENOENT/);
    assert.equal(await daemon.stop('SIGTERM'), 0);
  });
});
