/**
 * Forwarding never depends on the daemon: a killed daemon leaves the pinned
 * datapath forwarding, a new one adopts it (no reload, no re-attach of its
 * tcx links), an unknown layout is refused and left alone, --destroy takes
 * it all down. The pods keep the kernel's default offloads: TC vifs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Lab } from '../../lab/topology.ts';
import { backgroundPing } from '../helpers/background-ping.ts';
import { BPFFS_LAB_ROOT, LabDaemon } from '../../lab/daemon.ts';
import { buildTwoPods, programTwoPods, type TwoPods } from '../../lab/two-pods.ts';
import { collect, type VrouterClient } from '../../src/client/client.ts';
import { AttachHook } from '../../src/gen/vrouter/ebpf/v1/interface_pb.js';
import { BpfMap } from '../../src/bpf/map.ts';
import { decodeMeta, encodeMeta, u32Key } from '../../src/maps/codecs.ts';
import { VR_LAYOUT_VERSION } from '../../src/maps/layout.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

let lab: Lab;
let topo: TwoPods;
let daemon: LabDaemon;
let client: VrouterClient;

before(async () => {
  lab = new Lab('vrrst');
  topo = buildTwoPods(lab, 1500, { offloads: 'default' });
  daemon = new LabDaemon(lab, { instance: lab.prefix, ns: topo.host });
  client = await daemon.start();
  await programTwoPods(client, topo, AttachHook.TC);
  lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 1);
});

after(async () => {
  await daemon?.destroy();
  lab?.cleanup();
});

async function snapshot(c: VrouterClient) {
  return {
    vifs: (await collect(c.interfaces.listInterfaces({}))).map((x) => x.interface),
    nextHops: (await collect(c.nextHops.listNextHops({}))).map((x) => x.nextHop),
    routes: (await collect(c.routes.listRoutes({}))).map((x) => x.route),
  };
}

const metaPath = () => join(BPFFS_LAB_ROOT, lab.prefix, 'maps', 'vr_meta');

describe('daemon restart', () => {
  it('a killed daemon leaves traffic flowing; a new daemon adopts the pinned datapath', async () => {
    const info0 = await client.system.getSystemInfo({});
    assert.equal(info0.adopted, false);
    assert.deepEqual(info0.attachments.map((a) => a.hook), [AttachHook.TC, AttachHook.TC]);
    const state0 = await snapshot(client);
    const rx0 = (await client.stats.getInterfaceStats({ index: 1 })).stats!.rxPackets;

    const ping = backgroundPing(lab, topo, 60, { intervalS: 0.05 }); // 3 s
    await sleep(300);
    await daemon.stop('SIGKILL');
    await sleep(1000); // no daemon at all for a while
    client = await daemon.start();
    const result = await ping;
    assert.deepEqual(result, { transmitted: 60, received: 60 }, 'no ping lost across the restart');

    const info1 = await client.system.getSystemInfo({});
    assert.equal(info1.adopted, true);
    assert.deepEqual(info1.programs.map((p) => p.id), info0.programs.map((p) => p.id), 'same programs: not reloaded');
    assert.deepEqual(info1.attachments.map((a) => a.linkId), info0.attachments.map((a) => a.linkId), 'same links: not re-attached');
    assert.deepEqual(info1.attachments.map((a) => [a.hook, a.program]), [[AttachHook.TC, 'vr_tc_vif'], [AttachHook.TC, 'vr_tc_vif']]);
    assert.ok(info1.datapathUptimeSeconds >= 1.2, `datapath outlived the daemon (${info1.datapathUptimeSeconds}s)`);
    assert.deepEqual(await snapshot(client), state0, 'the new daemon knows every object');
    const rx1 = (await client.stats.getInterfaceStats({ index: 1 })).stats!.rxPackets;
    assert.ok(rx1 >= rx0 + 60n, `counters went on (${rx0} -> ${rx1})`);
    // and it can program on top of what it adopted
    await client.routes.addRoute({ route: { vrf: 1, prefix: '10.10.9.0/24', nextHopId: 12 } });
    await client.routes.deleteRoute({ vrf: 1, prefix: '10.10.9.0/24' });
  });

  it('SIGTERM: the daemon exits cleanly, removes its socket, the datapath stays', async () => {
    assert.equal(await daemon.stop('SIGTERM'), 0);
    assert.equal(existsSync(daemon.socketPath), false, 'socket removed');
    assert.equal(existsSync(metaPath()), true, 'pins kept');
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip6, 3).received, 3, 'forwarding with no daemon');
  });

  it('refuses a pinned datapath of another layout and leaves it forwarding', async () => {
    const meta = BpfMap.open(metaPath());
    const good = decodeMeta(meta.lookup(u32Key(0))!);
    meta.update(u32Key(0), encodeMeta({ ...good, layoutVersion: 99 }));
    try {
      await assert.rejects(daemon.start(), new RegExp(`pinned map layout v99, this daemon speaks v${VR_LAYOUT_VERSION}; refusing to adopt it`));
      assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 2).received, 2, 'left alone and forwarding');
    } finally {
      meta.update(u32Key(0), encodeMeta(good));
      meta.close();
    }
    client = await daemon.start();
    assert.equal((await client.system.getSystemInfo({})).adopted, true);
  });

  it('--destroy detaches the programs and removes the pins', async () => {
    await daemon.stop('SIGTERM');
    execFileSync(process.execPath, [MAIN, '--instance', lab.prefix, '--bpffs-root', BPFFS_LAB_ROOT, '--destroy'], { stdio: 'pipe' });
    assert.equal(existsSync(join(BPFFS_LAB_ROOT, lab.prefix)), false);
    assert.doesNotMatch(lab.ip(topo.host, ['link', 'show', 'veth-p1']), /xdp/);
    assert.equal(lab.ping(topo.pods[0].ns, topo.pods[1].ip4, 1, { allowFail: true }).received, 0, 'no datapath, no forwarding');
  });
});
