# SPDX-License-Identifier: Apache-2.0
# bench:memleak-real's Python program: a known leak from a named function, amid churn.
# Waits for "go" on stdin (a tracer attaches first), then runs ROUNDS rounds; each round
# keep_blocks() keeps KEEP bytearrays of SIZE bytes in a global list (the leak: they are never
# released) and churn() allocates and frees other objects, bytearrays of the same size among them
# (so the leak's C call site, PyByteArray_Resize <- bytearray___init__, is shared with blocks that
# are freed: what a real program does). Prints the loop's CPU and wall time and the bytes kept,
# then waits for stdin to close so a tracer can report while it still runs.
import os
import resource
import sys
import time

SIZE = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
KEEP = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 20
CHURN = int(sys.argv[4]) if len(sys.argv) > 4 else 3

kept = []


def keep_blocks(n):
    for _ in range(n):
        kept.append(bytearray(SIZE))


def churn(n):
    tmp = []
    for i in range(n):
        tmp.append(bytearray(SIZE))
        tmp.append({"k%d" % i: str(i) * 20, "v": [i] * 30})
        tmp.append(("x" * (i % 300 + 50)).encode())
    del tmp


def cpu_ms():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1000


print("ready", flush=True)
sys.stdin.readline()
c0, t0 = cpu_ms(), time.monotonic()
per_round = KEEP // ROUNDS
for _ in range(ROUNDS):
    keep_blocks(per_round)
    churn(per_round * CHURN)
c1, t1 = cpu_ms(), time.monotonic()
print("loop_ms %.1f cpu_ms %.1f kept %d size %d" % ((t1 - t0) * 1000, c1 - c0, len(kept), SIZE), flush=True)
sys.stdin.read()
os._exit(0)  # no finalization: the kept blocks stay outstanding at exit, for valgrind and heaptrack
