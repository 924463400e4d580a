// SPDX-License-Identifier: Apache-2.0
// The JSON API (/api/…): what the dashboard (issue 14) and scripts read. OOM post-mortems now;
// new views add their routes here.
import { formatFrame } from '../core/frames';
import type { Collectors } from './collectors';
import { AgentServer, HttpError, intParam, json } from './server';
import type { FaultStack } from './oom-store';

function stackJson(s: FaultStack): Record<string, unknown> {
  return { count: s.count, user_stack: s.user.map((f) => formatFrame(f)) };
}

export function addApiRoutes(server: AgentServer, c: Collectors): void {
  server.route('/api/oom', 'OOM post-mortems as JSON (newest last); ?id=N for one', (q) => {
    const id = intParam(q, 'id', undefined, 1, 1 << 30);
    const all = c.ooms.list().map((k) => ({ ...k, victim_fault_stacks: k.victim_fault_stacks.map(stackJson), profile: `/debug/pprof/oom?id=${k.id}` }));
    if (id === undefined) return json(all);
    const one = all.find((k) => k.id === id);
    if (!one) throw new HttpError(404, `no OOM kill with id ${id}`);
    return json(one);
  });

  server.route('/api/sources', 'the BPF sources loaded and the kernel events they use', () =>
    json(c.loaded().map((s) => ({ source: s.name, using: s.using }))),
  );
}
