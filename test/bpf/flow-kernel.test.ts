/**
 * The flow manager's behaviour suite on the real kernel (a vr_flows map of
 * a datapath loaded in a throwaway bpffs directory): pins every rule the
 * fake models for flows (EXIST / NOEXIST, E2BIG when full while a present
 * key is still replaced, batch walks resumed from a cursor).
 */
import { before } from 'node:test';
import { privateNetns } from '../helpers/private-netns.ts';
import { realHarness } from '../helpers/real-harness.ts';
import { flowBehaviour } from '../helpers/flow-suite.ts';

before(() => privateNetns());

flowBehaviour(realHarness);
