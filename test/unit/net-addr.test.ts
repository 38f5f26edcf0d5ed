import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, formatMac, parseIp, parseMac, parsePrefix } from '../../src/manager/net-addr.ts';
import { DatapathError } from '../../src/manager/errors.ts';

function refusal(fn: () => unknown, field: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DatapathError);
    assert.equal(e.code, 'invalid_argument');
    assert.equal(e.field, field);
    assert.match(e.message, re);
    return true;
  });
}

describe('MAC addresses', () => {
  it('parses and prints', () => {
    assert.equal(formatMac(parseMac('02:AA:bb:0c:0D:ee', 'f')), '02:aa:bb:0c:0d:ee');
    assert.equal(formatMac(parseMac('02-00-00-00-00-01', 'f')), '02:00:00:00:00:01');
  });
  it('refuses malformed, multicast and zero MACs, naming the field', () => {
    refusal(() => parseMac('02:00:00:00:00', 'interface.mac'), 'interface.mac', /not a MAC/);
    refusal(() => parseMac('zz:00:00:00:00:00', 'interface.mac'), 'interface.mac', /not a MAC/);
    refusal(() => parseMac('01:00:5e:00:00:01', 'x'), 'x', /multicast/);
    refusal(() => parseMac('00:00:00:00:00:00', 'x'), 'x', /all-zero/);
  });
});

describe('IP addresses', () => {
  it('parses IPv4 and IPv6 to bytes', () => {
    assert.deepEqual([...parseIp('10.1.2.3', 'f').bytes], [10, 1, 2, 3]);
    const v6 = parseIp('fd00:1::2', 'f');
    assert.equal(v6.family, 6);
    assert.equal(v6.bytes.toString('hex'), 'fd000001000000000000000000000002');
    assert.equal(parseIp('::ffff:10.0.0.1', 'f').bytes.toString('hex'), '00000000000000000000ffff0a000001');
    assert.equal(parseIp('::', 'f').bytes.toString('hex'), '0'.repeat(32));
  });
  it('prints IPv6 per RFC 5952', () => {
    for (const s of ['fd00:1::2', '::', '::1', 'fe80::1:0:0:1', '1:0:0:1::1', '2001:db8:0:1:1:1:1:1']) assert.equal(formatIp(parseIp(s, 'f').bytes), s);
  });
  it('refuses what is not an address', () => {
    for (const bad of ['10.1.2', '10.1.2.3.4', '256.1.1.1', '010.1.1.1', '1..2.3', '1.2.3.', '.1.2.3', '1.2.3.4x', '1.2.3.1000', ''])
      refusal(() => parseIp(bad, 'f'), 'f', /not an IP/);
    assert.equal(parseIp(' 10.0.0.1 ', 'f').bytes.toString('hex'), '0a000001');
    assert.equal(parseIp('0.0.0.0', 'f').bytes.toString('hex'), '00000000');
    assert.equal(parseIp('255.255.255.255', 'f').bytes.toString('hex'), 'ffffffff');
    refusal(() => parseIp('10.1.2', 'route.prefix'), 'route.prefix', /not an IP/);
    refusal(() => parseIp('fe80::1%eth0', 'a'), 'a', /not an IP/);
  });
});

describe('prefixes', () => {
  it('parses CIDR', () => {
    const p = parsePrefix('10.1.0.0/16', 'f');
    assert.equal(p.plen, 16);
    assert.equal(parsePrefix('0.0.0.0/0', 'f').plen, 0);
    assert.equal(parsePrefix('fd00::/8', 'f').plen, 8);
  });
  it('refuses host bits, bad lengths and missing slashes', () => {
    refusal(() => parsePrefix('10.1.2.3/16', 'route.prefix'), 'route.prefix', /host bits set .*did you mean 10\.1\.0\.0\/16/);
    refusal(() => parsePrefix('10.1.0.0/33', 'route.prefix'), 'route.prefix', /bad prefix length/);
    refusal(() => parsePrefix('fd00::/129', 'route.prefix'), 'route.prefix', /bad prefix length/);
    refusal(() => parsePrefix('10.1.0.0', 'route.prefix'), 'route.prefix', /not a prefix/);
    refusal(() => parsePrefix('10.1.0.0/-1', 'route.prefix'), 'route.prefix', /bad prefix length/);
  });
});
