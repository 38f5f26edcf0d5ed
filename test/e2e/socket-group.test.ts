/**
 * Who may use the API on the unix socket: with socket-group (here by name,
 * from the config file) and socket-mode 0660 the socket belongs to that
 * group, and a non-root user in it runs vrctl against the daemon; a user
 * outside it is refused by the kernel (EACCES). The users and the group are
 * made for the test (useradd / groupadd) and removed at the end; the
 * clients run as them through setpriv.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../../lab/topology.ts';
import { LabDaemon } from '../../lab/daemon.ts';

const CLI = fileURLToPath(new URL('../../src/cli/vrctl.ts', import.meta.url));
// short names (useradd allows 32 characters), unique per run
const tag = `vrsg${process.pid % 100_000}`;
const GROUP = `${tag}g`;
const MEMBER = `${tag}m`;
const OUTSIDER = `${tag}o`;

let lab: Lab;
let daemon: LabDaemon;
let dir: string;
const made: (() => void)[] = [];

/** asUser: vrctl run as `user` (its uid, primary gid and supplementary groups, no root left) */
function vrctlAs(user: string, args: string[]) {
  const gid = execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim();
  return spawnSync('setpriv', ['--reuid', user, '--regid', gid, '--init-groups', '--', process.execPath, CLI, '--socket', daemon.socketPath, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
}

before(async () => {
  execFileSync('groupadd', [GROUP]);
  made.push(() => execFileSync('groupdel', [GROUP]));
  for (const [user, extra] of [[MEMBER, ['-G', GROUP]], [OUTSIDER, []]] as const) {
    execFileSync('useradd', ['--no-create-home', '--no-user-group', '--shell', '/usr/sbin/nologin', ...extra, user]);
    made.unshift(() => execFileSync('userdel', [user]));
  }
  lab = new Lab('vrsg');
  dir = mkdtempSync(join(tmpdir(), 'vr-sockgrp-'));
  const cfg = join(dir, 'config.yaml');
  writeFileSync(cfg, `socket-group: ${GROUP}\nsocket-mode: "0660"\nmetrics: ""\n`);
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: lab.ns('host'), extraArgs: ['--config', cfg] });
  await daemon.start();
});

after(async () => {
  await daemon?.destroy();
  lab?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
  for (const undo of made) {
    try {
      undo();
    } catch (err) {
      process.stderr.write(`cleanup: ${(err as Error).message}\n`);
    }
  }
});

describe('unix socket group', () => {
  it('the socket is root\'s, of the configured group, mode 0660', () => {
    const st = statSync(daemon.socketPath);
    const gid = Number(execFileSync('getent', ['group', GROUP], { encoding: 'utf8' }).split(':')[2]);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [0, gid, 0o660]);
  });

  it('a non-root member of the group uses the API (vrctl health, vrctl vif list)', () => {
    const id = spawnSync('setpriv', ['--reuid', MEMBER, '--regid', execFileSync('id', ['-g', MEMBER], { encoding: 'utf8' }).trim(), '--init-groups', 'id', '-u'], { encoding: 'utf8' });
    assert.notEqual(id.stdout.trim(), '0', 'runs as the user, not root');
    const health = vrctlAs(MEMBER, ['health']);
    assert.equal(health.status, 0, health.stderr);
    const list = vrctlAs(MEMBER, ['--json', 'vif', 'list']);
    assert.equal(list.status, 0, list.stderr);
  });

  it('a user outside the group is refused by the socket\'s permissions', () => {
    const r = vrctlAs(OUTSIDER, ['health']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /EACCES/);
  });
});
