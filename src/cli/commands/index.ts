/** COMMANDS: every vrctl command, in the order --help lists them. */
import type { Command } from '../command.ts';
import { vifCommands } from './vif.ts';
import { nhCommands } from './nexthop.ts';
import { rtCommands } from './route.ts';
import { statsCommands } from './stats.ts';
import { systemCommands } from './system.ts';
import { traceCommands } from './trace.ts';
import { flowCommands } from './flow.ts';
import { packetCommands } from './packets.ts';
import { decapCommands } from './decap.ts';
import { bridgeCommands } from './bridge.ts';
import { healthCommands } from './health.ts';

export const COMMANDS: readonly Command[] = [
  ...vifCommands, ...nhCommands, ...rtCommands, ...decapCommands, ...bridgeCommands, ...flowCommands, ...statsCommands, ...systemCommands, ...traceCommands,
  ...packetCommands, ...healthCommands,
];
