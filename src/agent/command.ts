// SPDX-License-Identifier: Apache-2.0
// agent: the command (found by src/cli.ts beside the tools) for the node-level service — the tools' BPF programs kept loaded at once, read on demand,
// served as Prometheus metrics, pprof profiles and OOM post-mortems (src/agent/).
import type { CommonOptions } from '../core/options';
import { examples, Tool } from '../tools/tool';

interface AgentOptions extends CommonOptions {
  listen?: string;
  config?: string;
  tokenFile?: string;
  open?: boolean;
}

export const tool: Tool<AgentOptions> = {
  name: 'agent',
  summary: 'run as a service: Prometheus /metrics, pprof profiles, OOM post-mortems, per container',
  configure(cmd) {
    cmd
      .option('--listen <ADDR:PORT>', 'where to serve HTTP (beyond loopback needs --token-file)', undefined)
      .option('--config <FILE>', 'JSON settings (re-read on SIGHUP); see the README')
      .option('--token-file <FILE>', 'a bearer token clients must send (Authorization: Bearer TOKEN)')
      .option('--open', 'print the URL of the live dashboard to open in a browser (on stderr: stdout is JSON lines)');
    cmd.addHelpText(
      'after',
      '\nKeeps oomkill, swapin, vmscan, compaction, faults (counts and stacks), ffaults (with hugetlb\n' +
        'faults per cgroup) and vmgrowth loaded at once and serves, by default on 127.0.0.1:9477:\n' +
        '  /metrics                        Prometheus metrics (per memory cgroup and container)\n' +
        '  /debug/pprof/faults?seconds=N   page-fault stacks (&pid=P, &container=C)\n' +
        '  /debug/pprof/growth?seconds=N   brk/mmap growth stacks in bytes\n' +
        '  /debug/pprof/heap?pid=P&seconds=N  outstanding allocations of one process (memleak)\n' +
        "  /api/oom, /debug/pprof/oom?id=N OOM post-mortems: limit, usage, RSS, the victim's fault stacks\n" +
        '  /                               the live dashboard (memory over time, processes and containers,\n' +
        '                                  fault and memleak flame graphs, OOM post-mortems); /api lists all\n' +
        'Logs one JSON line per notable event on stdout. SIGHUP reloads --config; SIGTERM detaches all.\n' +
        examples([
          ['memscope agent', 'serve on 127.0.0.1:9477'],
          ['memscope agent --open', 'and print the dashboard URL'],
          ['memscope agent --listen 0.0.0.0:9477 --token-file /etc/memscope/token', 'serve the network, with a bearer token'],
          ['go tool pprof http://127.0.0.1:9477/debug/pprof/faults?seconds=10', 'a page-fault profile in pprof'],
        ]),
    );
  },
  async run(opts: AgentOptions) {
    const { runAgent } = await import('./main');
    await runAgent(opts);
  },
};
