import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, usage } from '../../src/config.ts';

describe('config', () => {
  it('has sane defaults', () => {
    const c = parseConfig([], {});
    assert.equal(c.instance, 'default');
    assert.equal(c.socketPath, '/run/vrouter-ebpf/default.sock');
    assert.equal(c.bpffsRoot, '/sys/fs/bpf/vrouter-ebpf');
    assert.equal(c.maxInterfaces, 4096);
    assert.equal(c.maxFlows, 524288);
    assert.equal(c.grpcTcp, '');
  });
  it('flags beat environment beats defaults', () => {
    const env = { VROUTER_EBPFD_INSTANCE: 'h1', VROUTER_EBPFD_MAX_ROUTES: '1000' };
    assert.equal(parseConfig([], env).instance, 'h1');
    assert.equal(parseConfig([], env).socketPath, '/run/vrouter-ebpf/h1.sock');
    assert.equal(parseConfig(['--instance', 'h2'], env).instance, 'h2');
    assert.equal(parseConfig([], env).maxRoutes, 1000);
  });
  it('refuses bad values with the flag named', () => {
    assert.throws(() => parseConfig(['--max-routes', 'many'], {}), /--max-routes/);
    assert.throws(() => parseConfig(['--instance', '../etc'], {}), /--instance/);
    assert.throws(() => parseConfig(['--no-such-flag'], {}), /no-such-flag/);
    // a size the kernel would refuse with a bare EINVAL at load is refused here, by name
    assert.throws(() => parseConfig(['--max-routes', String(2 ** 32)], {}), /--max-routes: 4294967296 is above the largest supported size, 16777216/);
    assert.throws(() => parseConfig(['--max-next-hops', String(2 ** 23)], {}), /--max-next-hops: .* above/);
    assert.throws(() => parseConfig([], { VROUTER_EBPFD_MAX_INTERFACES: '1000000' }), /^Error: VROUTER_EBPFD_MAX_INTERFACES: .* above/, 'named as it was set');
    assert.equal(parseConfig(['--max-routes', String(2 ** 24)], {}).maxRoutes, 2 ** 24);
    assert.throws(() => parseConfig(['--max-flows', '0'], {}), /--max-flows: want a positive integer/);
    assert.throws(() => parseConfig(['--max-flows', String(2 ** 24 + 1)], {}), /--max-flows: 16777217 is above the largest supported size, 16777216/);
    assert.equal(parseConfig([], { VROUTER_EBPFD_MAX_FLOWS: '1024' }).maxFlows, 1024);
  });
  it('--trap: a comma list of rule names, none by default; an unknown name is refused by the flag', () => {
    assert.deepEqual(parseConfig([], {}).trap, []);
    assert.deepEqual(parseConfig(['--trap', 'dhcp,arp'], {}).trap, ['arp', 'dhcp'], 'in reason order');
    assert.deepEqual(parseConfig(['--trap', 'ARP, nd,arp'], {}).trap, ['arp', 'nd'], 'case, spaces and repeats');
    assert.deepEqual(parseConfig(['--trap', 'none'], {}).trap, []);
    assert.deepEqual(parseConfig(['--trap', 'arp,dhcp,dns,nd,rs,own'], {}).trap, ['arp', 'dhcp', 'dns', 'nd', 'rs', 'own']);
    assert.deepEqual(parseConfig([], { VROUTER_EBPFD_TRAP: 'dns' }).trap, ['dns']);
    assert.throws(() => parseConfig(['--trap', 'arp,bogus'], {}), /^Error: --trap: "bogus" is not one of arp, dhcp, dns, nd, rs, own \(or none\)$/);
    assert.throws(() => parseConfig(['--trap', 'unspecified'], {}), /--trap: "unspecified"/);
  });
  it('--hold-per-flow: 1..255, 3 by default', () => {
    assert.equal(parseConfig([], {}).holdPerFlow, 3);
    assert.equal(parseConfig(['--hold-per-flow', '255'], {}).holdPerFlow, 255);
    assert.equal(parseConfig(['--hold-per-flow', '1'], {}).holdPerFlow, 1);
    assert.throws(() => parseConfig(['--hold-per-flow', '256'], {}), /--hold-per-flow: 256 is above .* 255/);
    assert.throws(() => parseConfig(['--hold-per-flow', '0'], {}), /--hold-per-flow: want a positive integer/);
    assert.throws(() => parseConfig(['--hold-per-flow', 'x'], {}), /--hold-per-flow/);
  });
  it('documents every option in --help', () => {
    for (const f of ['--instance', '--bpffs-root', '--socket', '--grpc-tcp', '--metrics', '--max-routes', '--max-flows', '--destroy', '--trap', '--hold-per-flow']) assert.ok(usage().includes(f), f);
  });
});
