/**
 * KeySet: a set of fixed-size byte keys in typed arrays (open addressing,
 * linear probing). A sync epoch marks every route the agent re-sends in one:
 * at 1M routes it costs ~2 × key size per route, not the ~100 B of a JS Set
 * of strings, and it lives only while the epoch is open.
 */
export class KeySet {
  readonly keySize: number;
  private keys: Uint8Array;
  private used: Uint8Array;
  private cap: number;
  private count = 0;

  constructor(keySize: number, initial = 1024) {
    this.keySize = keySize;
    this.cap = 1 << Math.ceil(Math.log2(Math.max(16, initial * 2)));
    this.keys = uninitialized(this.cap * keySize); // read only where `used` says a key was put
    this.used = new Uint8Array(this.cap);
  }

  get size(): number {
    return this.count;
  }

  private hash(b: Uint8Array, at: number): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < this.keySize; i++) h = Math.imul(h ^ b[at + i]!, 0x01000193);
    return (h ^ (h >>> 15)) >>> 0;
  }

  private slot(b: Uint8Array, at: number): number {
    const mask = this.cap - 1;
    const ks = this.keySize;
    for (let s = this.hash(b, at) & mask; ; s = (s + 1) & mask) {
      if (!this.used[s]) return s;
      let eq = true;
      for (let i = 0; i < ks; i++)
        if (this.keys[s * ks + i] !== b[at + i]) {
          eq = false;
          break;
        }
      if (eq) return s;
    }
  }

  has(b: Uint8Array, at = 0): boolean {
    return this.used[this.slot(b, at)] === 1;
  }

  /** add: true when the key was not there yet. */
  add(b: Uint8Array, at = 0): boolean {
    const s = this.slot(b, at);
    if (this.used[s]) return false;
    this.used[s] = 1;
    this.keys.set(b.subarray(at, at + this.keySize), s * this.keySize);
    if (++this.count * 2 > this.cap) this.grow();
    return true;
  }

  private grow(): void {
    const { keys, used, cap } = this;
    this.cap *= 2;
    this.keys = uninitialized(this.cap * this.keySize);
    this.used = new Uint8Array(this.cap);
    for (let s = 0; s < cap; s++) {
      if (!used[s]) continue;
      const t = this.slot(keys, s * this.keySize);
      this.used[t] = 1;
      this.keys.set(keys.subarray(s * this.keySize, (s + 1) * this.keySize), t * this.keySize);
    }
  }
}

const uninitialized = (n: number): Uint8Array => Buffer.allocUnsafeSlow(n);
