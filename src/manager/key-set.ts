/**
 * KeySet: a set of fixed-size byte keys (a multiple of 4 bytes: route keys
 * are 12 or 24) in typed arrays, open addressing with linear probing. A
 * batch checks its keys for duplicates here, and a sync epoch marks every
 * route the agent re-sends: at 1M routes it costs ~2 × key size per route,
 * not the ~100 B of a JS Set of strings, and it lives only while needed.
 * Keys are read as 32-bit words straight from the caller's buffer.
 */
export class KeySet {
  readonly keySize: number;
  private readonly words: number;
  private keys: Uint32Array;
  private used: Uint8Array;
  private cap: number;
  private count = 0;

  constructor(keySize: number, initial = 1024) {
    if (keySize % 4) throw new Error(`KeySet: key size ${keySize} is not a multiple of 4`);
    this.keySize = keySize;
    this.words = keySize / 4;
    this.cap = 1 << Math.ceil(Math.log2(Math.max(16, initial * 2)));
    this.keys = uninitialized(this.cap * this.words); // read only where `used` says a key was put
    this.used = new Uint8Array(this.cap);
  }

  get size(): number {
    return this.count;
  }

  /** slot: where the key at b[at..] is, or the free slot it would take */
  private slot(b: Buffer, at: number): number {
    const w = this.words;
    let h = 0x811c9dc5;
    for (let i = 0; i < w; i++) h = Math.imul(h ^ b.readUInt32LE(at + i * 4), 0x01000193);
    h ^= h >>> 15;
    const mask = this.cap - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      if (!this.used[s]) return s;
      let i = 0;
      while (i < w && this.keys[s * w + i] === b.readUInt32LE(at + i * 4)) i++;
      if (i === w) return s;
    }
  }

  has(b: Buffer, at = 0): boolean {
    return this.used[this.slot(b, at)] === 1;
  }

  /** add: true when the key was not there yet. */
  add(b: Buffer, at = 0): boolean {
    const s = this.slot(b, at);
    if (this.used[s]) return false;
    this.used[s] = 1;
    for (let i = 0; i < this.words; i++) this.keys[s * this.words + i] = b.readUInt32LE(at + i * 4);
    if (++this.count * 2 > this.cap) this.grow();
    return true;
  }

  private grow(): void {
    const { keys, used, cap, words } = this;
    this.cap *= 2;
    this.keys = uninitialized(this.cap * words);
    this.used = new Uint8Array(this.cap);
    const tmp = Buffer.alloc(this.keySize);
    for (let s = 0; s < cap; s++) {
      if (!used[s]) continue;
      for (let i = 0; i < words; i++) tmp.writeUInt32LE(keys[s * words + i]!, i * 4);
      const t = this.slot(tmp, 0);
      this.used[t] = 1;
      this.keys.set(keys.subarray(s * words, (s + 1) * words), t * words);
    }
  }
}

const uninitialized = (n: number): Uint32Array => {
  const b = Buffer.allocUnsafeSlow(n * 4);
  return new Uint32Array(b.buffer, b.byteOffset, n);
};
