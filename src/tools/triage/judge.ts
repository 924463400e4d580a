// SPDX-License-Identifier: Apache-2.0
// triage's verdict: every rule (rules.ts, rules-activity.ts) over one set of observations, the
// steps in checklist order and the findings ranked most severe first. Pure, as the rules are.
import type { TriageReport } from '../../core/records';
import type { Observations } from './collect';
import { FAULTS_PER_S_WARN, StepId, STEPS } from './plan';
import { context, memoryStep, oomStep, processesStep, RANK, StepOutcome, swapStep } from './rules';
import { faultsStep, filesStep, growthStep, pmcStep, reclaimStep } from './rules-activity';

export type Judgement = Pick<TriageReport, 'findings' | 'steps'> & {
  tables: Omit<TriageReport['tables'], 'swaps' | 'cgroups' | 'memory'>;
  faultsFolded: string[];
};

/** Every step in checklist order, the findings ranked most severe first. */
export function judge(o: Observations, since: number, pageKb = 4, faultRate = FAULTS_PER_S_WARN): Judgement {
  const c = context(o, since, faultRate);
  const faults = faultsStep(c);
  const files = filesStep(c);
  const growth = growthStep(c);
  const reclaim = reclaimStep(c);
  const byId: Record<StepId, StepOutcome> = {
    oom: oomStep(c),
    swap: swapStep(c, pageKb),
    memory: memoryStep(c),
    processes: processesStep(c),
    faults,
    files,
    growth,
    reclaim,
    pmc: pmcStep(c),
  };
  const steps = STEPS.map(([id]) => byId[id].step);
  const findings = STEPS.flatMap(([id]) => byId[id].findings).sort((a, b) => RANK[b.severity] - RANK[a.severity] || (b.weight ?? 0) - (a.weight ?? 0));
  const largest = [...c.procDelta].sort((a, b) => b.rssKb - a.rssKb);
  const log = 'events' in o.oomLog ? o.oomLog.events : [];
  return {
    findings,
    steps,
    tables: {
      processes: largest.slice(0, 10).map((p) => ({ pid: p.pid, comm: p.comm, rssKb: p.rssKb, rssGrowthKb: p.rssGrowthKb, swapKb: p.swapKb, faultsPerS: Math.round(p.faults / o.elapsed) })),
      faultStacks: faults.faultStacks.slice(0, 20),
      files: files.files.slice(0, 10),
      growth: growth.growth.slice(0, 10),
      oomKills: log.slice(-10),
      reclaim: reclaim.reclaim,
    },
    faultsFolded: faults.folded,
  };
}
