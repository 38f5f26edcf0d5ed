/**
 * Struct: a C struct of bpf/shared/vr_kern_user.h as a field table. Each
 * field's offset and type is written once; encode and decode both read the
 * table, and map-layout.test.ts holds every table against the object's BTF
 * (field names are the C members in camelCase).
 */

export type FieldType = 'u8' | 'u16' | 'u16be' | 'u32' | 'u32be' | 'u64' | { bytes: number };

export interface FieldDef {
  off: number;
  type: FieldType;
}

type FieldValue<T extends FieldType> = T extends { bytes: number } ? Buffer : T extends 'u64' ? bigint : number;

export type StructValue<F extends Record<string, FieldDef>> = { [K in keyof F]: FieldValue<F[K]['type']> };

export class Struct<F extends Record<string, FieldDef>> {
  readonly cName: string;
  readonly size: number;
  readonly fields: F;
  private readonly list: [string, FieldDef][];

  constructor(cName: string, size: number, fields: F) {
    this.cName = cName;
    this.size = size;
    this.fields = fields;
    this.list = Object.entries(fields);
  }

  /** encode: the value into `into` at `at` (a new buffer by default); absent byte fields stay zero. */
  encode(v: StructValue<F>, into?: Buffer, at = 0): Buffer {
    const b = into ?? Buffer.alloc(this.size);
    const r = v as Record<string, number | bigint | Buffer | undefined>;
    for (const [name, f] of this.list) {
      const x = r[name];
      const o = at + f.off;
      switch (f.type) {
        case 'u8': b[o] = x as number; break;
        case 'u16': b.writeUInt16LE(x as number, o); break;
        case 'u16be': b.writeUInt16BE(x as number, o); break;
        case 'u32': b.writeUInt32LE((x as number) >>> 0, o); break;
        case 'u32be': b.writeUInt32BE((x as number) >>> 0, o); break;
        case 'u64': b.writeBigUInt64LE(x as bigint, o); break;
        default:
          if (x) (x as Buffer).copy(b, o, 0, f.type.bytes);
          else b.fill(0, o, o + f.type.bytes);
      }
    }
    return b;
  }

  decode(b: Buffer, at = 0): StructValue<F> {
    const out: Record<string, number | bigint | Buffer> = {};
    for (const [name, f] of this.list) {
      const o = at + f.off;
      switch (f.type) {
        case 'u8': out[name] = b[o]!; break;
        case 'u16': out[name] = b.readUInt16LE(o); break;
        case 'u16be': out[name] = b.readUInt16BE(o); break;
        case 'u32': out[name] = b.readUInt32LE(o); break;
        case 'u32be': out[name] = b.readUInt32BE(o); break;
        case 'u64': out[name] = b.readBigUInt64LE(o); break;
        default: out[name] = Buffer.from(b.subarray(o, o + f.type.bytes));
      }
    }
    return out as StructValue<F>;
  }

  /** cOffsets: member name (as in C) → offset, for the BTF check. */
  cOffsets(): Record<string, number> {
    return Object.fromEntries(this.list.map(([name, f]) => [name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), f.off]));
  }
}
