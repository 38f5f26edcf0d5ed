/**
 * KeySet: the open-addressing set a sync epoch marks routes in.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeySet } from '../../src/manager/key-set.ts';

function key(size: number, n: number, salt = 0): Buffer {
  const b = Buffer.alloc(size, salt);
  b.writeUInt32LE(n >>> 0, size - 4);
  return b;
}

describe('KeySet', () => {
  it('add is true once per key; has sees exactly what was added', () => {
    const s = new KeySet(12, 16);
    assert.equal(s.add(key(12, 1)), true);
    assert.equal(s.add(key(12, 1)), false);
    assert.equal(s.has(key(12, 1)), true);
    assert.equal(s.has(key(12, 2)), false);
    assert.equal(s.has(key(12, 1, 1)), false, 'every byte counts');
    assert.equal(s.size, 1);
  });

  it('grows far past its initial capacity and keeps every key (100k 24-byte keys)', () => {
    const s = new KeySet(24, 16);
    const n = 100_000;
    for (let i = 0; i < n; i++) assert.equal(s.add(key(24, i * 7919)), true);
    assert.equal(s.size, n);
    for (let i = 0; i < n; i++) assert.equal(s.add(key(24, i * 7919)), false);
    for (let i = 0; i < n; i++) if (!s.has(key(24, i * 7919))) assert.fail(`lost key ${i}`);
    let absent = 0;
    for (let i = 0; i < n; i++) if (s.has(key(24, i * 7919 + 1))) absent++;
    assert.equal(absent, 0, 'no false positives');
    assert.equal(s.size, n);
  });

  it('reads keys at an offset inside a packed buffer', () => {
    const packed = Buffer.concat([key(12, 1), key(12, 2), key(12, 3)]);
    const s = new KeySet(12);
    for (let i = 0; i < 3; i++) s.add(packed, i * 12);
    assert.equal(s.has(key(12, 2)), true);
    assert.equal(s.has(packed, 24), true);
    assert.equal(s.add(packed, 12), false);
  });

  it('keys that differ only in the bytes a hash mixes least are all kept', () => {
    const s = new KeySet(12, 16);
    for (let b = 0; b < 12; b++)
      for (let v = 0; v < 256; v++) {
        const k = Buffer.alloc(12);
        k[b] = v;
        s.add(k);
      }
    assert.equal(s.size, 12 * 255 + 1);
  });
});
