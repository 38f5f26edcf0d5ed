/**
 * The package's bins as an operator runs them: `npx vrctl ...` in the
 * checkout, from a shell whose PATH has no Node 24 (the system node here
 * is older and cannot run .ts): npm puts node_modules/.bin first, where the
 * `node` devDependency is Node 24, and the bins' `#!/usr/bin/env node`
 * shebangs take it. The files are executable in git, so a fresh clone has
 * them so too.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { DAEMON_NODE_FLAGS } from '../../src/config.ts';
import { ROOT } from '../helpers/deploy-files.ts';

const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };
const OWN_BIN = join(ROOT, 'node_modules/.bin');
/** PATH without this package's node_modules/.bin: what a shell has before npm adds it */
const BARE_PATH = (process.env.PATH ?? '').split(delimiter).filter((d) => d && !d.startsWith(join(ROOT, 'node_modules')) && !d.includes('/node_modules/.bin')).concat('/usr/bin', '/bin').join(delimiter);
const npx = BARE_PATH.split(delimiter).map((d) => join(d, 'npx')).find((p) => existsSync(p));

function runNpx(args: string[]) {
  const r = spawnSync(npx!, ['--no-install', ...args], {
    cwd: ROOT, encoding: 'utf8', timeout: 60_000,
    // no npm_* variables of the runner (an npm test run would hand its own config down)
    env: { PATH: BARE_PATH, HOME: process.env.HOME ?? '/root', npm_config_update_notifier: 'false' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('package bins', () => {
  it('vrctl and vrouter-ebpfd: executable files with a shebang that runs node (the daemon with its flags)', () => {
    assert.deepEqual(Object.keys(PKG.bin).sort(), ['vrctl', 'vrouter-ebpfd']);
    for (const [name, file] of Object.entries(PKG.bin)) {
      const path = join(ROOT, file);
      accessSync(path, constants.X_OK);
      const shebang = readFileSync(path, 'utf8').split('\n')[0];
      const want = name === 'vrouter-ebpfd' ? `#!/usr/bin/env -S node ${DAEMON_NODE_FLAGS.join(' ')}` : '#!/usr/bin/env node';
      assert.equal(shebang, want, name);
    }
  });

  it('are executable in git, so a fresh clone has them so', { skip: !existsSync(join(ROOT, '.git')) && 'not a git checkout' }, () => {
    const r = spawnSync('git', ['ls-files', '-s', ...Object.values(PKG.bin)], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const modes = r.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]);
    assert.deepEqual(modes, Object.values(PKG.bin).map(() => '100755'));
  });

  it('npx vrctl --help exits 0, run by Node 24 from a PATH without it', { skip: !npx && 'no npx on PATH' }, () => {
    const help = runNpx(['vrctl', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^vrctl: the operator's command/);
    assert.match(help.stdout, /^ {2}health \[service\] /m);
    const version = runNpx(['vrctl', '--version']);
    assert.deepEqual([version.code, version.stdout], [0, `vrctl ${PKG.version}\n`]);
    // the node that npx gives the bins: the devDependency's, not the PATH's
    const node = runNpx(['node', '--version']);
    assert.equal(node.code, 0, node.stderr);
    assert.match(node.stdout, /^v(2[4-9]|[3-9]\d)\./);
    assert.ok(existsSync(join(OWN_BIN, 'node')));
  });

  it('npx vrouter-ebpfd --version exits 0', { skip: !npx && 'no npx on PATH' }, () => {
    const r = runNpx(['vrouter-ebpfd', '--version']);
    assert.deepEqual([r.code, r.stdout], [0, `vrouter-ebpfd ${PKG.version}\n`], r.stderr);
  });
});
