// SPDX-License-Identifier: Apache-2.0
// memscope agent and a Docker container's OOM kill: the test's own dockerd (Debian's docker.io,
// no network, cgroupfs driver on this host's cgroup v1 memory controller) runs mem_hog from an
// image imported from local files (busybox-static and mem_hog with its libraries) under -m 32m;
// Prometheus scraping the agent sees one kill for the container by its name, and /api/oom names
// the container, its cgroup and the function that faulted the victim's memory in.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { workload } from './lib/workloads';
import { jsonLines } from './lib/run';
import { assertNothingLoaded } from './lib/bpf';
import { get, startAgent, startPrometheus, until } from './lib/agent';
import { Dockerd } from './lib/docker';

test("agent: a Docker container's OOM kill is counted by the container's name in Prometheus and /api/oom names the container", async () => {
  // never skipped: without dockerd or busybox this fails with the reason
  assert.ok(fs.existsSync('/bin/busybox'), "/bin/busybox not found: setup.sh installs Debian's busybox-static");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memscope-agent-docker-'));
  const dockerd = await Dockerd.start();
  let agent: Awaited<ReturnType<typeof startAgent>> | null = null;
  let prom: Awaited<ReturnType<typeof startPrometheus>> | null = null;
  let id = '';
  try {
    dockerd.importImage('memscope-oom-test:1', [['/bin/busybox', '/bin/busybox'], ...Dockerd.withLibraries(workload('mem_hog'), '/mem_hog')]);
    const cfg = path.join(tmp, 'agent.json');
    fs.writeFileSync(cfg, JSON.stringify({ dockerRoot: dockerd.dataRoot }));
    agent = await startAgent(['--config', cfg]);
    prom = await startPrometheus(agent, tmp);
    await prom.scraped();

    const name = `memscope-oom-${process.pid}`;
    // memory and memory+swap both 32 MiB and swappiness 0: the 150 MiB can only end in a kill
    // the kernel's own count of OOM kills (Docker's State.OOMKilled races its exit event: one
    // clean-clone run saw exit 137 with OOMKilled false)
    const oomKills = () => Number(/^oom_kill (\d+)$/m.exec(fs.readFileSync('/proc/vmstat', 'utf8'))![1]);
    const kills0 = oomKills();
    const run = dockerd.docker(
      ['run', '-i', '--name', name, '--network', 'none', '-m', '32m', '--memory-swap', '32m', '--memory-swappiness', '0', 'memscope-oom-test:1', '/mem_hog', '150'],
      { input: 'go\n', allowFail: true },
    );
    assert.equal(run.code, 137, `mem_hog was not killed: ${run.stdout}${run.stderr}`);
    const inspect = JSON.parse(dockerd.docker(['inspect', name]).stdout)[0];
    assert.ok(oomKills() > kills0, 'the kernel counted no OOM kill');
    id = inspect.Id;
    const cgroup = `/docker/${id}`;

    await agent.run.waitFor(/"event":"oom_kill".*"victim":\{"pid":\d+,"tid":\d+,"comm":"mem_hog"/);
    const log = jsonLines(agent.run.stdout).find((l) => l.event === 'oom_kill' && l.cgroup === cgroup);
    assert.ok(log, agent.run.stdout);
    assert.equal(log.container, name);
    assert.equal(log.limit_bytes, 32 << 20);

    const sel = `memscope_oom_kills_total{container="${name}"}`;
    await until('the kill in Prometheus', async () => ((await prom!.query(sel)) ?? []).length > 0);
    const series = (await prom.query(sel))!;
    assert.equal(series.length, 1, JSON.stringify(series));
    assert.equal(series[0].value[1], '1');
    assert.equal(series[0].metric.cgroup, cgroup);
    assert.equal(series[0].metric.constraint, 'memcg');

    const all = JSON.parse((await get(`${agent.base}/api/oom`)).body.toString()) as any[];
    const k = all.find((x) => x.cgroup === cgroup);
    assert.ok(k, JSON.stringify(all));
    assert.equal(k.victim.comm, 'mem_hog');
    assert.equal(k.container.id, id);
    assert.equal(k.container.name, name);
    assert.equal(k.container.runtime, 'docker');
    assert.equal(k.container.image, 'memscope-oom-test:1');
    assert.equal(k.oom_memcg, cgroup);
    assert.equal(k.oom_memcg_limit_kb, 32 * 1024);
    // the usage when the victim was chosen (read in BPF before the kill freed it): at the limit
    assert.ok(k.oom_memcg_usage_bytes > 28 << 20 && k.oom_memcg_usage_bytes <= 32 << 20, String(k.oom_memcg_usage_bytes));
    assert.equal(log.usage_bytes, k.oom_memcg_usage_bytes);
    assert.match(k.victim_fault_stacks[0].user_stack[0], /^main\+0x[0-9a-f]+ \[mem_hog\]$/, JSON.stringify(k.victim_fault_stacks.slice(0, 3)));
  } finally {
    await prom?.stop();
    await agent?.stop();
    await dockerd.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  // dockerd's cgroups for this test's container are gone with it (only its own: another run's
  // dockerd may have a container of its own at the same moment)
  if (id) for (const h of ['memory', 'unified']) assert.ok(!fs.existsSync(`/sys/fs/cgroup/${h}/docker/${id}`), `${h}/docker/${id} left behind`);
});

after(() => assertNothingLoaded());
