#!/usr/bin/env node
/**
 * vrctl: the operator's command over vrouter-ebpfd's gRPC API.
 *
 *   vrctl [global options] <command> [<verb>] [<args>] [options]
 *
 * Global options go before the command or among its options. Exit codes:
 * 0 done; 1 the call failed (one line on stderr: "vrctl: CODE: field:
 * message", from the status and its vrouter-field trailer); 2 a usage error.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { status, type ServiceError } from '@grpc/grpc-js';
import { VrouterClient, type ClientOptions } from '../client/client.ts';
import { PACKAGE_ROOT, parseConfig } from '../config.ts';
import { commandName, UsageError, type Command, type Context, type OptionSpec, type OptionValues } from './command.ts';
import { COMMANDS } from './commands/index.ts';

const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** the daemon's own default, following the same VROUTER_EBPFD_* variables */
function defaultSocket(instance: string | undefined): string {
  const env = { VROUTER_EBPFD_SOCKET: process.env.VROUTER_EBPFD_SOCKET, VROUTER_EBPFD_INSTANCE: process.env.VROUTER_EBPFD_INSTANCE };
  return parseConfig(instance === undefined ? [] : ['--instance', instance], env).socketPath;
}

const GLOBAL: Record<string, OptionSpec> = {
  socket: { type: 'string', arg: 'PATH', desc: `the daemon's unix socket (default ${defaultSocket(undefined)}; env VROUTER_EBPFD_SOCKET)` },
  instance: { type: 'string', arg: 'NAME', desc: 'the daemon instance: its default socket /run/vrouter-ebpf/NAME.sock' },
  address: { type: 'string', arg: 'HOST:PORT', desc: 'the daemon\'s TCP listener (grpc-tcp) instead of the socket: TLS, with --cacert (and --cert, --key for mTLS)' },
  cacert: { type: 'string', arg: 'FILE', desc: 'with --address: the CA that signed the daemon\'s certificate (PEM; default the system\'s roots)' },
  cert: { type: 'string', arg: 'FILE', desc: 'with --address: this client\'s certificate (PEM), for a daemon with tls-client-ca' },
  key: { type: 'string', arg: 'FILE', desc: 'with --address: the key of --cert (PEM)' },
  'insecure-plaintext': { type: 'boolean', desc: 'with --address: no TLS (a daemon started with --grpc-tcp-insecure-plaintext)' },
  json: { type: 'boolean', desc: 'machine output: the API\'s messages as protobuf JSON (every field)' },
  timeout: { type: 'string', arg: 'MS', desc: 'deadline of each call in ms (default 30000)' },
  help: { type: 'boolean', short: 'h', desc: 'help; of a command: vrctl vif add --help' },
  version: { type: 'boolean', desc: 'print the version' },
};

const optionLines = (opts: Record<string, OptionSpec>) => {
  const heads = Object.entries(opts).map(([n, o]) => `${o.short ? `-${o.short}, ` : ''}--${n}${o.arg ? ` ${o.arg}` : ''}`);
  const w = Math.max(...heads.map((h) => h.length));
  return Object.values(opts).map((o, i) => `  ${heads[i]!.padEnd(w)}  ${o.desc}`);
};

const synopsis = (c: Command) => [commandName(c), c.args, c.flags].filter(Boolean).join(' ');

function topHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => synopsis(c).length));
  return [
    'vrctl: the operator\'s command for vrouter-ebpfd (over its gRPC API)',
    '',
    'usage: vrctl [global options] <command> [<args>] [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${synopsis(c).padEnd(w)}  ${c.summary}`),
    '',
    'global options:',
    ...optionLines(GLOBAL),
    '',
    'Tables for people by default; --json for scripts. Exit codes: 0 done, 1 the call',
    'failed (one line on stderr: "vrctl: NOT_FOUND: index: no interface with index 9"),',
    '2 a usage error. "vrctl <command> --help" for a command\'s options.',
  ].join('\n');
}

function groupHelp(group: string, cmds: readonly Command[]): string {
  const w = Math.max(...cmds.map((c) => synopsis(c).length));
  return [`usage: vrctl ${group} <verb> [<args>] [options]`, '', ...cmds.map((c) => `  ${synopsis(c).padEnd(w)}  ${c.summary}`), '', `"vrctl ${group} <verb> --help" for a verb's options.`].join('\n');
}

function commandHelp(c: Command): string {
  const lines = [`usage: vrctl ${synopsis(c)}${c.options ? ' [options]' : ''}`, '', `${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`];
  if (c.options) lines.push('', 'options:', ...optionLines(c.options));
  if (c.details) lines.push('', c.details);
  lines.push('', 'global options: --socket PATH, --instance NAME, --json, --timeout MS (vrctl --help)');
  return lines.join('\n');
}

interface Parsed {
  command: Command | undefined;
  /** help text to print (exit 0) instead of running */
  help?: string;
  args: string[];
  opts: OptionValues;
}

/** parse: finds the command (the first one or two words after the global options), then parses the rest with its options. */
function parse(argv: string[]): Parsed {
  let i = 0;
  const lead: string[] = [];
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    lead.push(argv[i]!);
    const name = argv[i]!.replace(/^--?/, '');
    if (GLOBAL[name]?.type === 'string' && i + 1 < argv.length) lead.push(argv[++i]!);
  }
  const word = argv[i];
  const group = COMMANDS.filter((c) => c.path[0] === word);
  let command: Command | undefined;
  let rest = argv.slice(i + 1);
  if (group.length === 1 && group[0]!.path.length === 1) command = group[0];
  else if (group.length > 0) {
    const verb = rest[0];
    command = group.find((c) => c.path[1] === verb);
    if (command) rest = rest.slice(1);
    else if (verb === undefined || verb.startsWith('-')) {
      if (rest.includes('--help') || rest.includes('-h') || lead.includes('--help') || lead.includes('-h')) return { command: undefined, help: groupHelp(word!, group), args: [], opts: {} };
      throw new UsageError(`${word}: missing verb (${group.map((c) => c.path[1]).join(', ')})`, word);
    } else throw new UsageError(`${word}: unknown verb ${JSON.stringify(verb.slice(0, 32))} (${group.map((c) => c.path[1]).join(', ')})`, word);
  } else if (word !== undefined) throw new UsageError(`unknown command ${JSON.stringify(word.slice(0, 32))}`);

  const spec = { ...GLOBAL, ...(command?.options ?? {}) };
  const where = command ? commandName(command) : '';
  let parsed;
  try {
    parsed = parseArgs({
      args: [...lead, ...rest],
      options: Object.fromEntries(Object.entries(spec).map(([n, o]) => [n, o.short ? { type: o.type, short: o.short } : { type: o.type }])),
      strict: true,
      allowPositionals: true,
      allowNegative: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split('. ')[0]!.replace(/\.$/, ''), where);
  }
  const opts = parsed.values as OptionValues;
  if (opts.help) return { command, help: command ? commandHelp(command) : topHelp(), args: [], opts };
  if (opts.version) return { command, help: `vrctl ${VERSION}`, args: [], opts };
  if (!command) throw new UsageError('no command given');
  const [min, max] = command.nargs;
  const args = parsed.positionals;
  if (args.length < min) throw new UsageError(`missing arguments: want ${command.args}`, where);
  if (args.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(args[max]!.slice(0, 32))}`, where);
  return { command, args, opts };
}

function isServiceError(e: unknown): e is ServiceError {
  return typeof e === 'object' && e !== null && 'code' in e && 'details' in e && 'metadata' in e && typeof (e as ServiceError).code === 'number';
}

/** connection: the client's TLS options from --cacert / --cert / --key (TCP only; plaintext only when asked) */
function connection(opts: Record<string, unknown>, address: string | undefined, cmd: string): ClientOptions {
  const file = (name: 'cacert' | 'cert' | 'key') => {
    const path = opts[name];
    if (typeof path !== 'string') return undefined;
    if (!address) throw new UsageError(`--${name} goes with --address (the unix socket has no TLS)`, cmd);
    try {
      return readFileSync(path);
    } catch (err) {
      throw new UsageError(`--${name}: cannot read ${path}: ${(err as Error).message}`, cmd);
    }
  };
  const tls = { ca: file('cacert'), cert: file('cert'), key: file('key') };
  if (!address) return {};
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new UsageError('--cert and --key go together', cmd);
  if (opts['insecure-plaintext'] === true) {
    if (tls.ca || tls.cert) throw new UsageError('--insecure-plaintext takes no --cacert, --cert or --key', cmd);
    return {};
  }
  return { tls };
}

/** errorLine: a failed call as one line, "CODE: field: message". */
function errorLine(err: ServiceError, socket: string): string {
  const field = err.metadata.get('vrouter-field')[0];
  // grpc-js's own details (UNAVAILABLE) end in an empty "Resolution note:"
  let msg = err.details.replace(/\s+/g, ' ').replace(/ ?Resolution note: ?$/, '').trim();
  if (typeof field === 'string' && field && !msg.startsWith(`${field}: `)) msg = `${field}: ${msg}`;
  const hint = err.code === status.UNAVAILABLE ? ` (is vrouter-ebpfd serving on ${socket}?)` : '';
  return `${status[err.code] ?? err.code}: ${msg}${hint}`;
}

async function main(argv: string[]): Promise<number> {
  // grpc-js gives an IP address target to TLS as its server name, which Node
  // flags (DEP0123) on every connection: stderr is for one error line
  process.noDeprecation = true;
  const out: string[] = [];
  const flush = () => {
    if (out.length) process.stdout.write(`${out.join('\n')}\n`);
    out.length = 0;
  };
  let parsed: Parsed;
  try {
    parsed = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`vrctl: ${err.message}\nTry 'vrctl${err.command ? ` ${err.command}` : ''} --help'.\n`);
    return 2;
  }
  if (parsed.help !== undefined) {
    process.stdout.write(`${parsed.help}\n`);
    return 0;
  }
  const { command, args, opts } = parsed;
  const socket = resolve(typeof opts.socket === 'string' ? opts.socket : defaultSocket(typeof opts.instance === 'string' ? opts.instance : undefined));
  const address = typeof opts.address === 'string' ? opts.address : undefined;
  const target = address ?? `unix:${socket}`;
  let client: VrouterClient | undefined;
  let streamClient: VrouterClient | undefined;
  try {
    const timeout = typeof opts.timeout === 'string' ? Number(opts.timeout) : 30_000;
    if (!Number.isInteger(timeout) || timeout <= 0) throw new UsageError(`--timeout: want a positive number of ms, got ${JSON.stringify(String(opts.timeout).slice(0, 32))}`, commandName(command!));
    const conn = connection(opts, address, commandName(command!));
    const ctx: Context = {
      client: () => (client ??= new VrouterClient(target, timeout, conn)),
      streamClient: () => (streamClient ??= new VrouterClient(target, 0, conn)),
      json: opts.json === true,
      out: (text) => out.push(text),
      emit: (text) => {
        flush();
        process.stdout.write(`${text}\n`);
      },
      flush,
    };
    await command!.run(ctx, args, opts);
    flush();
    return 0;
  } catch (err) {
    flush();
    if (err instanceof UsageError) {
      process.stderr.write(`vrctl: ${err.message}\nTry 'vrctl ${err.command || commandName(command!)} --help'.\n`);
      return 2;
    }
    process.stderr.write(`vrctl: ${isServiceError(err) ? errorLine(err, address ?? socket) : (err as Error).message}\n`);
    return 1;
  } finally {
    client?.close();
    streamClient?.close();
  }
}

// a reader that goes away (vrctl rt list | head) is not an error
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`vrctl: internal error: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
