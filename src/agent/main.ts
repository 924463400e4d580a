// SPDX-License-Identifier: Apache-2.0
// memscope agent: loads the sources, serves /metrics, /debug/pprof/* and /api/*, collects
// stacks on a timer, logs notable events as JSON lines, reloads its config on SIGHUP and
// detaches everything on SIGTERM or SIGINT.
import * as path from 'node:path';
import { requireRoot } from '../engine/session';
import { MemscopeError } from '../core/errors';
import { Authenticator, checkExposure, readToken } from './auth';
import { AgentConfig, parseListen, resolveConfig } from './config';
import { Collectors } from './collectors';
import { logEvent } from './log';
import { renderMetrics } from './metrics';
import { addPprofRoutes } from './pprof-routes';
import { addApiRoutes } from './api';
import { AgentServer } from './server';
import { agentDashboard } from './dashboard';

export interface AgentCli {
  listen?: string;
  config?: string;
  tokenFile?: string;
  open?: boolean;
}

const MEMSCOPE_BIN = path.join(__dirname, '..', '..', '..', 'bin', 'memscope');

export async function runAgent(cli: AgentCli): Promise<void> {
  requireRoot();
  let config: AgentConfig = resolveConfig(cli);
  const addr = parseListen(config.listen);
  checkExposure(addr, config.tokenFile);
  const auth = new Authenticator(config.tokenFile ? readToken(config.tokenFile) : null);

  const collectors = new Collectors(config);
  const server = new AgentServer(auth);
  server.route('/metrics', 'Prometheus metrics', () => ({ type: 'text/plain; version=0.0.4; charset=utf-8', body: renderMetrics(collectors, config) }));
  addPprofRoutes(server, collectors, () => config, MEMSCOPE_BIN);
  addApiRoutes(server, collectors);
  const dashboard = agentDashboard(collectors, auth, addr.loopback);
  server.mountDashboard(dashboard);

  try {
    collectors.start();
    await server.listen(addr.host, addr.port);
  } catch (e) {
    dashboard.close();
    collectors.stop();
    await server.close();
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') throw new MemscopeError(`cannot listen on ${config.listen}: the address is in use`);
    if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') throw new MemscopeError(`cannot listen on ${config.listen}: no such local address`);
    throw e instanceof MemscopeError ? e : new MemscopeError(`cannot start: ${err.message}`);
  }
  const bound = server.address();
  logEvent('started', {
    listen: bound ? `${bound.host}:${bound.port}` : config.listen,
    auth: config.tokenFile ? 'bearer' : 'none',
    sources: collectors.loaded().map((s) => s.name),
  });
  if (cli.open && bound) {
    const host = bound.host.includes(':') ? `[${bound.host}]` : bound.host === '0.0.0.0' ? '127.0.0.1' : bound.host;
    // beyond loopback the browser brings the token once in the URL; the page moves it into a cookie
    process.stderr.write(
      `memscope agent: the dashboard is at http://${host}:${bound.port}/${config.tokenFile ? '?token=TOKEN (the token in ' + config.tokenFile + ')' : ''}\n`,
    );
  }

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      process.off('SIGHUP', onHup);
      // a collection under way ends at its next slice, not after a whole full map
      collectors.abandon();
      logEvent('stopping', { signal });
      resolve();
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    const onHup = () => {
      try {
        const next = resolveConfig(cli);
        if (next.listen !== config.listen) logEvent('reload_note', { message: 'a new listen address takes effect at restart', listen: next.listen });
        checkExposure(addr, next.tokenFile);
        auth.setToken(next.tokenFile ? readToken(next.tokenFile) : null);
        // what sizes or sets the kernel side is fixed at load: kept until a restart
        const { listen, maxCgroups, maxFaultStacks, faultStackRate, faultStackSampleEvery, growthStackStorage } = config;
        config = { ...next, listen, maxCgroups, maxFaultStacks, faultStackRate, faultStackSampleEvery, growthStackStorage };
        collectors.reconfigure(config);
        logEvent('reloaded', { config: cli.config ?? null });
      } catch (e) {
        logEvent('reload_failed', { error: (e as Error).message });
      }
    };
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    process.on('SIGHUP', onHup);
  });

  dashboard.close();
  await server.close();
  await collectors.close();
  logEvent('stopped', {});
}
