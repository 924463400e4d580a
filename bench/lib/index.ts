// SPDX-License-Identifier: Apache-2.0
// The shared bench harness (compiled to dist/bench/lib; bench/attach.ts shows it in use):
//   ensureBcc() / ensureBpftrace()   install from Debian on demand and prove the tool runs here
//                                    ({ ok, reason, env }: BCC gets BCC_KERNEL_SOURCE in env)
//   aptInstall(pkgs), which(cmd)     other reference tools
//   helperBinary(name), memleakWorkload()   C helpers and workloads built into build/bench once
//   launch({ cmd, args, ready, attachedTo })
//                                    → { readyMs, attachedMs, attachedCpuMs, stop('SIGINT') →
//                                        { exitMs, maxRssKb, cpuMs, stdout, stderr } }
//   runToExit(cmd, args)             → { wallMs, cpuMs, maxRssKb } of a command run to completion
//   vmHwmKb(pid)                     peak RSS so far of a live process
//   summarize(xs), repeat(n, fn), sleep(ms)
//   progRuns(), withBpfStats(fn), runsBetween(...)   BPF run counts and time (kernel.bpf_stats_enabled)
//   groupCpuMs(pgid)                 CPU time so far of a launched tool's processes
//   ratioTable(title, unit, baseline, series), targetLines(targets)   the printed report
//   startSpinners(n), busyCount(), loadLine()   a busy machine on demand (BENCH_BUSY=N CPU spinners)
export * from './install';
export * from './launch';
export * from './stats';
export * from './report';
export * from './bpf-stats';
export * from './busy';
