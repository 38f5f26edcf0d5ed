/**
 * The manager's tunnel suite on the real kernel (a datapath in a throwaway
 * bpffs directory, veths in a private netns): every rule the FakeKernel
 * models for tunnels, labels and VNIs is pinned here
 * (test/unit/tunnel-manager.test.ts runs the same suite on the fake).
 */
import { before } from 'node:test';
import { privateNetns } from '../helpers/private-netns.ts';
import { realHarness } from '../helpers/real-harness.ts';
import { tunnelBehaviour } from '../helpers/tunnel-suite.ts';

before(() => privateNetns());

tunnelBehaviour(realHarness);
