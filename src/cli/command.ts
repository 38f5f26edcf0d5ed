/**
 * Command: one vrctl subcommand (its usage, options and run function), the
 * context it runs in, and the helpers that turn command-line strings into
 * request values. Syntax is checked here (an integer, one of a few words);
 * meaning (a MAC, a prefix, a VRF in range) is the daemon's to judge, so its
 * errors name the request field.
 */
import type { DescEnum, JsonValue } from '@bufbuild/protobuf';
import type { VrouterClient } from '../client/client.ts';

/** UsageError: a bad command line (exit code 2). */
export class UsageError extends Error {
  /** usage: the command whose --help to point at ("vif add"), or "" for the top level */
  readonly command: string;
  constructor(message: string, command = '') {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** placeholder in the help ("N", "MAC"); string options only */
  arg?: string;
  desc: string;
  short?: string;
}

export type OptionValues = Record<string, string | boolean | undefined>;

export interface Context {
  /** client: connects on first use */
  client(): VrouterClient;
  /** streamClient: a client whose calls have no deadline (watch streams run until stopped) */
  streamClient(): VrouterClient;
  json: boolean;
  /** out: writes one or more lines to stdout */
  out(text: string): void;
  /** emit: writes a line to stdout now (watch commands print as things happen) */
  emit(text: string): void;
  /** flush: writes what out() holds now (a command that streams, e.g. packets watch) */
  flush(): void;
}

export interface Command {
  /** group and verb: ['vif', 'list'], or ['dropstats'] for a command of its own */
  path: readonly [string] | readonly [string, string];
  /** positionals in the usage line: "<index>", "[vif]" */
  args?: string;
  /** the options worth showing in the usage line: "--vif N (--hex HEX | --file F)" */
  flags?: string;
  /** how many positionals are accepted */
  nargs: readonly [min: number, max: number];
  summary: string;
  /** more help text, printed after the options */
  details?: string;
  options?: Record<string, OptionSpec>;
  run(ctx: Context, args: string[], opts: OptionValues): Promise<void>;
}

export const commandName = (c: Command) => c.path.join(' ');

/** printJson: machine output, two-space indented. */
export function printJson(ctx: Context, v: JsonValue): void {
  ctx.out(JSON.stringify(v, null, 2));
}

const U32_MAX = 0xffff_ffff;

/** uint: a non-negative decimal integer up to max (u32 by default). */
export function uint(what: string, s: string, max = U32_MAX): number {
  if (!/^\d{1,10}$/.test(s) || Number(s) > max) throw new UsageError(`${what}: want an integer from 0 to ${max}, got ${JSON.stringify(s.slice(0, 32))}`);
  return Number(s);
}

/** optUint: a numeric option, undefined when absent. */
export function optUint(opts: OptionValues, name: string): number | undefined {
  const v = opts[name];
  return typeof v === 'string' ? uint(`--${name}`, v) : undefined;
}

/** optString: a string option, undefined when absent. */
export function optString(opts: OptionValues, name: string): string | undefined {
  const v = opts[name];
  return typeof v === 'string' ? v : undefined;
}

/** optBool: a boolean option (--x / --no-x), undefined when absent. */
export function optBool(opts: OptionValues, name: string): boolean | undefined {
  const v = opts[name];
  return typeof v === 'boolean' ? v : undefined;
}

/**
 * enumValue: a word for an enum value, the value's short name in lower case
 * ("xdp" for ATTACH_HOOK_XDP); aliases map other words ("auto" to 0).
 */
export function enumValue(what: string, schema: DescEnum, s: string, aliases: Record<string, number> = {}): number {
  const word = s.toLowerCase().replaceAll('-', '_');
  if (word in aliases) return aliases[word]!;
  const v = schema.values.find((e) => e.number !== 0 && e.localName.toLowerCase() === word);
  if (v) return v.number;
  const words = [...Object.keys(aliases), ...schema.values.filter((e) => e.number !== 0).map((e) => e.localName.toLowerCase())];
  throw new UsageError(`${what}: want one of ${[...new Set(words)].join(', ')}, got ${JSON.stringify(s.slice(0, 32))}`);
}

/** enumName: an enum value as the word enumValue reads ("xdp", "no_route"); "-" for UNSPECIFIED. */
export function enumName(schema: DescEnum, n: number): string {
  if (n === 0) return '-';
  return schema.value[n]?.localName.toLowerCase() ?? String(n);
}
