/**
 * deploy/systemd/vrouter-ebpfd.service: systemd-analyze verify accepts it
 * (with the install root pointed at this checkout, so that ExecStart's
 * node and main.ts must exist), and it says what the daemon relies on:
 * Type=notify (the daemon sends READY=1: test/e2e/sd-notify.test.ts), the
 * bpffs mount, restart on failure, and the documented capabilities
 * (run for real in test/e2e/capabilities.test.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CAPABILITIES, ROOT, UNIT_INSTALL_ROOT, UNIT_PATH, readUnit, unitValue } from '../helpers/deploy-files.ts';

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

/** inCheckout: the unit with /opt/vrouter-ebpf replaced by this checkout, in a temp dir; removed after fn. */
function inCheckout<T>(fn: (path: string) => T, edit = (s: string) => s): T {
  const dir = mkdtempSync(join(tmpdir(), 'vr-unit-'));
  try {
    const path = join(dir, 'vrouter-ebpfd.service');
    writeFileSync(path, edit(readFileSync(UNIT_PATH, 'utf8').replaceAll(UNIT_INSTALL_ROOT, ROOT.replace(/\/$/, ''))));
    return fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function verify(path: string): { status: number | null; ours: string[] } {
  const r = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8', timeout: 60_000 });
  // lines about other units of this machine are not the unit's to answer for
  const ours = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('vrouter-ebpfd') || l.includes(path));
  return { status: r.status, ours };
}

describe('systemd unit', () => {
  it('is what the daemon needs: notify, bpffs, restart, capabilities, the same node flags', () => {
    const unit = readUnit();
    assert.equal(unitValue(unit, 'Service', 'Type'), 'notify');
    assert.equal(unitValue(unit, 'Service', 'NotifyAccess'), 'main');
    assert.equal(unitValue(unit, 'Service', 'Restart'), 'on-failure');
    assert.equal(unitValue(unit, 'Service', 'RuntimeDirectory'), 'vrouter-ebpf');
    assert.equal(unitValue(unit, 'Unit', 'RequiresMountsFor'), '/sys/fs/bpf');
    assert.equal(unitValue(unit, 'Install', 'WantedBy'), 'multi-user.target');
    for (const key of ['CapabilityBoundingSet', 'AmbientCapabilities'])
      assert.deepEqual(unitValue(unit, 'Service', key)?.split(/\s+/).sort(), [...CAPABILITIES].sort(), key);
    // ExecStart: node with the daemon's flags (src/config.ts DAEMON_NODE_FLAGS), the main process itself (NotifyAccess=main)
    const exec = unitValue(unit, 'Service', 'ExecStart')!.split(/\s+/);
    assert.deepEqual(exec.slice(0, 3), [`${UNIT_INSTALL_ROOT}/node_modules/.bin/node`, '--max-semi-space-size=8', `${UNIT_INSTALL_ROOT}/src/main.ts`]);
    for (const p of exec.slice(0, 3).filter((a) => a.startsWith('/'))) assert.ok(existsSync(p.replace(UNIT_INSTALL_ROOT, ROOT)), `${p} in the checkout`);
  });

  it('passes systemd-analyze verify', { skip: !hasAnalyze && 'no systemd-analyze here (the key checks above still ran)' }, () => {
    inCheckout((path) => {
      const r = verify(path);
      assert.deepEqual(r.ours, []);
      assert.equal(r.status, 0);
    });
    // and verify is a real check: a unit whose node is missing is refused
    inCheckout((path) => {
      const r = verify(path);
      assert.notEqual(r.status, 0);
      assert.match(r.ours.join('\n'), /is not executable/);
    }, (s) => s.replace('/node_modules/.bin/node', '/node_modules/.bin/no-such-node'));
  });

  it('is the node the daemon needs: Node 24 at the path ExecStart names', () => {
    const node = join(ROOT, 'node_modules/.bin/node');
    assert.match(execFileSync(node, ['--version'], { encoding: 'utf8' }), /^v2[4-9]\./);
  });
});
