/**
 * Human output: tables aligned in columns (numbers to the right) and
 * key/value blocks. No colours, no trailing spaces, stable for awk.
 */

const NUMERIC = /^-?\d+(\.\d+)?%?$|^-$/;

/** table: a header row and rows, columns two spaces apart; a column of numbers is right-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const right = headers.map((_, i) => rows.length > 0 && rows.every((r) => NUMERIC.test(r[i] ?? '')) && rows.some((r) => r[i] !== '-'));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** kv: "key  value" lines with the keys padded to one width. */
export function kv(pairs: readonly (readonly [string, string])[]): string {
  const w = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(w)}  ${v}`.trimEnd()).join('\n');
}

/** yesNo: a flag as "yes" / "no". */
export const yesNo = (b: boolean) => (b ? 'yes' : 'no');

/** dash: an empty value as "-". */
export const dash = (s: string | number | bigint) => (s === '' ? '-' : String(s));
