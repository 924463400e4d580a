// SPDX-License-Identifier: Apache-2.0
// dashboard: the live dashboard on its own HTTP server, with the fallback sources (procfs, the
// kernel log, the CLI tools run on demand). `memscope agent` serves the same dashboard with its
// collectors plugged in (createDashboard in src/dashboard/index.ts); this command is for a host
// where the agent does not run, and for the browser tests.
import * as http from 'node:http';
import { MemscopeError, UsageError } from '../core/errors';
import { createDashboard } from '../dashboard/index';
import type { CommonOptions } from '../core/options';
import { examples, Tool } from './tool';

interface DashboardOpts extends CommonOptions {
  listen: string;
}

/** "127.0.0.1:9477", "[::1]:9477", ":9477" → host and port; loopback unless asked otherwise. */
export function parseListen(v: string): { host: string; port: number; loopback: boolean } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen: expected ADDR:PORT (127.0.0.1:9477, [::1]:9477), got ${JSON.stringify(v).slice(0, 80)}`);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  const loopback = /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || host === 'localhost';
  return { host, port, loopback };
}

export const tool: Tool<DashboardOpts> = {
  name: 'dashboard',
  summary: 'a live dashboard in the browser: memory over time, processes and cgroups, fault and memleak flame graphs, OOM kills',
  configure(cmd) {
    cmd.option('--listen <ADDR:PORT>', 'address to serve on (loopback by default)', '127.0.0.1:9477');
    cmd.addHelpText(
      'after',
      '\nServes the dashboard `memscope agent` also serves, without the agent: memory from /proc,\n' +
        'OOM kills from the kernel log, fault and memleak flame graphs traced on demand from the page\n' +
        "(a POST with the page's CSRF token). Loopback only: use `memscope agent --token-file` to serve\n" +
        'beyond it. Runs until Ctrl-C or SIGTERM.\n' +
        examples([
          ['memscope dashboard', 'then open http://127.0.0.1:9477/'],
          ['memscope dashboard --listen 127.0.0.1:8080', 'another port'],
        ]),
    );
  },
  async run(opts) {
    const l = parseListen(opts.listen);
    if (!l.loopback) throw new UsageError('dashboard serves loopback only (use memscope agent with --token-file beyond it)');
    const dash = createDashboard({});
    const server = http.createServer((req, res) => {
      if (!dash.handle(req, res)) res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new MemscopeError(`cannot listen on ${opts.listen}: ${e.code ?? e.message}`)));
      server.listen(l.port, l.host, () => resolve());
    });
    const addr = server.address() as import('node:net').AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    process.stdout.write(`memscope dashboard: http://${host}:${addr.port}/\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    dash.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  },
};
