/**
 * The config file: YAML keys named like the flags, precedence flag > env >
 * file > default, refusals that name the key (unknown keys too), the
 * documented example (deploy/config.example.yaml) and the ConfigMap's
 * loading, the socket and TLS options, and which changes a SIGHUP applies
 * (applyReload against recording targets).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { OPTIONS, parseConfig, readConfigFile, usage, type OptName } from '../../src/config.ts';
import { applyReload, type LiveTargets } from '../../src/config-reload.ts';
import { ROOT } from '../helpers/deploy-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'vr-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
/** file: a config file with this text; its path */
function file(text: string): string {
  const p = join(dir, `c${n++}.yaml`);
  writeFileSync(p, text);
  return p;
}
const withFile = (text: string, argv: string[] = [], env: NodeJS.ProcessEnv = {}) => parseConfig(['--config', file(text), ...argv], env);

describe('config file', () => {
  it('an empty file, or comments only, is the defaults', () => {
    const d = parseConfig([], {});
    for (const text of ['', '# nothing set\n', '---\n']) {
      const c = withFile(text);
      assert.deepEqual({ ...c, configFile: '', sources: d.sources }, { ...d, sources: d.sources });
    }
  });

  it('keys are the option names; YAML lists and numbers as the flags would take them', () => {
    const c = withFile('max-routes: 1000\ntrap: [dhcp, arp]\nflow-idle-udp: 1.5\nsocket-mode: 0600\nlog-level: debug\ngrpc-tcp-insecure-plaintext: true\ngrpc-tcp: 127.0.0.1:1\n');
    assert.equal(c.maxRoutes, 1000);
    assert.deepEqual(c.trap, ['arp', 'dhcp']);
    assert.equal(c.flowIdleMs.udp, 1500);
    assert.equal(c.socketMode, 0o600, '0600 is octal, not YAML 1.2 decimal 600');
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.grpcTcpInsecurePlaintext, true);
    assert.equal(c.sources['max-routes'], 'file');
    assert.equal(c.sources.instance, 'default');
  });

  it('precedence: flag > env > file > default; the shadowed file keys are listed', () => {
    const text = 'max-routes: 1000\nmax-flows: 2048\nlog-level: warn\n';
    const env = { VROUTER_EBPFD_MAX_FLOWS: '4096', VROUTER_EBPFD_LOG_LEVEL: 'error' };
    const c = withFile(text, ['--log-level', 'debug'], env);
    assert.equal(c.maxRoutes, 1000);
    assert.equal(c.maxFlows, 4096);
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.maxInterfaces, 4096);
    assert.deepEqual([c.sources['max-routes'], c.sources['max-flows'], c.sources['log-level'], c.sources['max-interfaces']], ['file', 'env', 'flag', 'default']);
    assert.deepEqual(c.shadowed.sort(), ['log-level', 'max-flows']);
    // the file's path from the environment, as the DaemonSet gives it
    assert.equal(parseConfig([], { VROUTER_EBPFD_CONFIG: file('max-vrfs: 8\n') }).maxVrfs, 8);
  });

  it('refuses an unknown key, naming it (nested keys by their path)', () => {
    const p = file('log-level: info\nfoo: 1\n');
    assert.throws(() => parseConfig(['--config', p], {}), new RegExp(`^Error: config file ${p}: unknown key foo$`));
    assert.throws(() => withFile('foo:\n  bar: 1\n'), /: unknown key foo\.bar$/);
    assert.throws(() => withFile('max_routes: 10\n'), /unknown key max_routes$/);
    assert.throws(() => withFile('destroy: true\n'), /unknown key destroy \(a command-line flag only\)/);
    assert.throws(() => withFile('config: /x\n'), /unknown key config/);
  });

  it('refuses a bad value, naming the file and the key', () => {
    const p = file('max-routes: many\n');
    assert.throws(() => parseConfig(['--config', p], {}), new RegExp(`^Error: config file ${p}: max-routes: want a positive integer, got "many"$`));
    assert.throws(() => withFile('max-flows: 99999999\n'), /: max-flows: 99999999 is above the largest supported size, 16777216$/);
    assert.throws(() => withFile('trap: arp,bogus\n'), /: trap: "bogus" is not one of/);
    assert.throws(() => withFile('log-level: loud\n'), /: log-level: "loud" is not one of/);
    assert.throws(() => withFile('flow-idle-tcp: 0\n'), /: flow-idle-tcp: want seconds/);
    assert.throws(() => withFile('hold-per-flow:\n'), /: hold-per-flow: want a positive integer, got ""/);
    assert.throws(() => withFile('socket-mode: rw\n'), /: socket-mode: want octal permission bits/);
    assert.throws(() => withFile('grpc-tcp-insecure-plaintext: maybe\n'), /: grpc-tcp-insecure-plaintext: want true or false/);
    assert.throws(() => withFile('max-routes:\n  - 1\n'), /: max-routes: want a single value, got a list/);
    assert.throws(() => withFile('instance: {a: 1}\n'), /: instance: want a single value, got a mapping/);
    // a bad value the file sets is no error when a flag overrides it
    assert.equal(withFile('max-routes: many\n', ['--max-routes', '10']).maxRoutes, 10);
  });

  it('refuses a file that is not a mapping, not YAML, or not there', () => {
    assert.throws(() => withFile('- a\n- b\n'), /want a mapping of option names to values/);
    assert.throws(() => withFile('just text\n'), /want a mapping/);
    assert.throws(() => withFile('a: [\n'), /not YAML/);
    assert.throws(() => withFile('max-routes: 1\nmax-routes: 2\n'), /not YAML: .*unique/);
    assert.throws(() => parseConfig(['--config', join(dir, 'missing.yaml')], {}), /config file .*missing\.yaml: ENOENT/);
  });

  it('the example file loads, documents every key, and says the defaults', () => {
    const path = join(ROOT, 'deploy/config.example.yaml');
    const c = parseConfig(['--config', path], {});
    const d = parseConfig([], {});
    assert.deepEqual({ ...c, configFile: '', sources: {} }, { ...d, sources: {} });
    const text = readFileSync(path, 'utf8');
    for (const name of Object.keys(OPTIONS) as OptName[]) {
      if ('file' in OPTIONS[name]) continue;
      assert.match(text, new RegExp(`^(# )?${name}:`, 'm'), `${name} in the example`);
    }
    // its commented keys, uncommented, are keys too
    const commented = text.split('\n').filter((l) => /^# [a-z-]+:/.test(l)).map((l) => l.slice(2)).join('\n');
    assert.ok(readConfigFile(file(commented)).size >= 6);
  });

  it('the ConfigMap\'s config.yaml loads as it is, and its commented keys are keys', () => {
    const cm = parse(readFileSync(join(ROOT, 'deploy/kubernetes/configmap.yaml'), 'utf8')) as { data: { 'config.yaml': string } };
    const text = cm.data['config.yaml'];
    withFile(text);
    const keys = text.split('\n').filter((l) => /^# [a-z-]+: /.test(l)).map((l) => l.slice(2));
    assert.ok(keys.length >= 5);
    assert.equal(readConfigFile(file(keys.join('\n'))).size, keys.length);
  });

  it('--help mentions --config, the file, the precedence and SIGHUP', () => {
    const u = usage();
    for (const s of ['--config', 'VROUTER_EBPFD_CONFIG', 'SIGHUP', '--socket-group', '--socket-mode', '--tls-cert', '--tls-key', '--tls-client-ca', '--grpc-tcp-insecure-plaintext'])
      assert.ok(u.includes(s), s);
  });
});

describe('socket and TLS options', () => {
  it('socket-mode: octal, 0660 by default; socket-group: a gid or a group name, none by default', () => {
    assert.equal(parseConfig([], {}).socketMode, 0o660);
    assert.equal(parseConfig(['--socket-mode', '660'], {}).socketMode, 0o660);
    assert.equal(parseConfig(['--socket-mode', '0600'], {}).socketMode, 0o600);
    assert.throws(() => parseConfig(['--socket-mode', '0868'], {}), /^Error: --socket-mode: want octal/);
    assert.equal(parseConfig([], {}).socketGid, undefined);
    assert.equal(parseConfig(['--socket-group', '1234'], {}).socketGid, 1234);
    assert.equal(parseConfig(['--socket-group', 'root'], {}).socketGid, 0);
    assert.throws(() => parseConfig(['--socket-group', 'no-such-group-xyz'], {}), /^Error: --socket-group: no group named "no-such-group-xyz"$/);
    assert.throws(() => withFile('socket-group: "a b"\n'), /: socket-group: "a b" is not a group name/);
  });

  it('grpc-tcp only with TLS, or with the plaintext option named', () => {
    assert.throws(() => parseConfig(['--grpc-tcp', '127.0.0.1:1'], {}), /^Error: --grpc-tcp: TCP is served with TLS only: set tls-cert and tls-key \(or, for a lab, --grpc-tcp-insecure-plaintext\)$/);
    assert.throws(() => withFile('grpc-tcp: 127.0.0.1:1\n'), /config file .*: grpc-tcp: TCP is served with TLS only/);
    assert.equal(parseConfig(['--grpc-tcp', '127.0.0.1:1', '--grpc-tcp-insecure-plaintext'], {}).grpcTcpInsecurePlaintext, true);
    assert.equal(parseConfig(['--grpc-tcp', '127.0.0.1:1'], { VROUTER_EBPFD_GRPC_TCP_INSECURE_PLAINTEXT: 'true' }).grpcTcpInsecurePlaintext, true);
    const tls = parseConfig(['--grpc-tcp', '127.0.0.1:1', '--tls-cert', 'c.pem', '--tls-key', 'k.pem'], {});
    assert.deepEqual([tls.tlsCert, tls.tlsKey, tls.tlsClientCa], ['c.pem', 'k.pem', '']);
    assert.throws(() => parseConfig(['--grpc-tcp', '127.0.0.1:1', '--tls-cert', 'c.pem'], {}), /^Error: --tls-cert: needs tls-key too$/);
    assert.throws(() => parseConfig(['--tls-key', 'k.pem'], {}), /^Error: --tls-key: needs tls-cert too$/);
    assert.throws(() => parseConfig(['--tls-client-ca', 'ca.pem'], {}), /^Error: --tls-client-ca: mTLS needs/);
    assert.throws(
      () => parseConfig(['--grpc-tcp', '127.0.0.1:1', '--tls-cert', 'c', '--tls-key', 'k', '--grpc-tcp-insecure-plaintext'], {}),
      /^Error: --grpc-tcp-insecure-plaintext: conflicts with tls-cert/,
    );
  });
});

describe('reload (what a SIGHUP applies)', () => {
  function recorder() {
    const calls: [string, unknown][] = [];
    const t: LiveTargets = {
      logLevel: (l) => calls.push(['logLevel', l]),
      trap: (r) => calls.push(['trap', r]),
      holdPerFlow: (x) => calls.push(['holdPerFlow', x]),
      timeouts: (x) => calls.push(['timeouts', x]),
    };
    return { calls, t };
  }

  it('applies the live options that changed, and only those; lists the rest as needing a restart', () => {
    const a = withFile('log-level: info\nmax-routes: 100\nflow-idle-udp: 60\n');
    const b = withFile('log-level: debug\nmax-routes: 200\nflow-idle-udp: 10\nhold-timeout: 2000\ntrap: arp\nhold-per-flow: 5\nhold-queue-max: 10\nmetrics: ""\n');
    const { calls, t } = recorder();
    const r = applyReload(a, b, t);
    assert.deepEqual(calls, [
      ['logLevel', 'debug'],
      ['trap', ['arp']],
      ['holdPerFlow', 5],
      ['timeouts', { holdMs: 2000, holdQueueMax: 10, aging: { udpMs: 10_000 } }],
    ]);
    assert.deepEqual(Object.keys(r.applied).sort(), ['flow-idle-udp', 'hold-per-flow', 'hold-queue-max', 'hold-timeout', 'log-level', 'trap']);
    assert.deepEqual(r.needsRestart, { config: r.needsRestart.config, 'max-routes': { from: 100, to: 200 }, metrics: { from: '127.0.0.1:9478', to: '' } });
    // in force now: the live values new, the others as started (so the next reload still reports them)
    assert.equal(r.config.logLevel, 'debug');
    assert.equal(r.config.maxRoutes, 100);
    assert.equal(applyReload(r.config, b, recorder().t).needsRestart['max-routes']?.to, 200);
  });

  it('no change: nothing called', () => {
    const text = 'log-level: warn\ntrap: [arp]\n';
    const p = file(text);
    const { calls, t } = recorder();
    const r = applyReload(parseConfig(['--config', p], {}), parseConfig(['--config', p], {}), t);
    assert.deepEqual([calls, r.applied, r.needsRestart], [[], {}, {}]);
  });
});
