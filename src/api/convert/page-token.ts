/**
 * Page tokens of ListFlows: opaque to clients, base64url of a version, a
 * hash of the filters the token was made for (a token is refused with
 * other filters), the map walk's cursor and how many entries of its batch
 * were already looked at (maps/tables/flow-table.ts PageCursor).
 */
import { invalid } from '../../manager/errors.ts';
import type { PageCursor } from '../../maps/tables/flow-table.ts';

const VERSION = 1;
const HAS_CURSOR = 1;
const HEAD = 10; // version, flags, filter hash (4), skip (4)
const MAX_CURSOR = 64;

/** filterHash: FNV-1a (32 bits) of the filters' canonical text. */
export function filterHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function encodePageToken(c: PageCursor, filters: number): string {
  const at = c.at ?? Buffer.alloc(0);
  const b = Buffer.alloc(HEAD + at.length);
  b[0] = VERSION;
  b[1] = c.at ? HAS_CURSOR : 0;
  b.writeUInt32BE(filters, 2);
  b.writeUInt32BE(c.skip, 6);
  at.copy(b, HEAD);
  return b.toString('base64url');
}

/** decodePageToken: the cursor of a token; INVALID_ARGUMENT (field) for anything this daemon did not make for these filters. */
export function decodePageToken(s: string, filters: number, field: string): PageCursor {
  const b = /^[A-Za-z0-9_-]{1,128}$/.test(s) ? Buffer.from(s, 'base64url') : Buffer.alloc(0);
  if (b.length < HEAD || b.length > HEAD + MAX_CURSOR || b[0] !== VERSION || (b[1]! & ~HAS_CURSOR) !== 0)
    throw invalid(field, 'not a page token of ListFlows (pass next_page_token as it came)');
  if (b.readUInt32BE(2) !== filters) throw invalid(field, 'this token was made for other filters: page with the filters of the first call');
  return { at: b[1] ? Buffer.from(b.subarray(HEAD)) : null, skip: b.readUInt32BE(6) };
}
