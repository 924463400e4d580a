// SPDX-License-Identifier: Apache-2.0
// The one symbolizer: kernel addresses through kallsyms; user frames through build ids or
// /proc/PID/maps, ELF symbol tables (with separate debug files) and JIT perf maps.
// Everything is cached: ELF files by file identity, build ids by value, maps per process.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ElfFile } from './elf';
import { KernelSymbols } from './kallsyms';
import { PerfMap } from './perfmap';
import { FileOnDevice, findMapping, isFileMapping, Mapping, readMaps } from '../procfs/maps';
import { openOnDevice } from './on-device';
import { readPidStat } from '../procfs/pid';
import type { Frame, UserFrame } from '../core/frames';
import { vdsoImage, vdsoSymbols } from './vdso';
import { evictions, MAX_PROCESSES, moduleCache } from './cache-caps';

/** Frames of the tracing machinery itself, found on top of kernel stacks taken in BPF programs. */
const TRACER_FRAME =
  /^(bpf_prog_\w+|bpf_trace_run\d+|__bpf_trace_\w+|__traceiter_\w+|trace_call_bpf|perf_trace_\w+|perf_syscall_(enter|exit)|perf_tp_event|bpf_overflow_handler|__perf_event_overflow|perf_swevent_\w+|___perf_sw_event|__perf_sw_event|bpf_get_stack\w*)$/;

function isTracerFrame(f: Frame): boolean {
  return f.module === 'bpf' || (f.symbol !== null && TRACER_FRAME.test(f.symbol));
}

/** A user stack with the mapping of each address frame (Symbolizer.pin). */
export interface PinnedStack {
  frames: UserFrame[];
  maps: (Mapping | undefined)[];
}

/** memscope's own mount namespace, against which a process's tells whether it is a container's. */
const OWN_MOUNT_NS = (() => {
  try {
    return fs.readlinkSync('/proc/self/ns/mnt');
  } catch {
    return '';
  }
})();

/** Symbolizer.imageOf of maps changed by a ring record, before a sample said which image it is of:
 * of no image (no sample's start_stack is all ones). */
export const IMAGE_PENDING = -1n;

/** Whether two program images (mm->start_stack) are the same: by their low 32 bits, all a walked
 * stack has room for (struct ms_walked_stack's image; a DWARF sample carries all 64). Neither may be
 * untold (undefined, 0, IMAGE_PENDING): an image that cannot be told is never taken for another's. */
export function sameImage(a: bigint | undefined, b: bigint | undefined): boolean {
  return !!a && !!b && a !== IMAGE_PENDING && b !== IMAGE_PENDING && BigInt.asUintN(32, a) === BigInt.asUintN(32, b);
}

/** keepMaps: how many of the least recently seen processes are looked at for maps read from /proc
 * to forget before the ring's live processes, per call. */
const RING_SCAN = 64;

export class Symbolizer {
  private kallsyms: KernelSymbols | null = null;
  private elfByIdentity = new Map<string, ElfFile | null>();
  private debugByBuildId = new Map<string, ElfFile | null>();
  private elfByBuildId = new Map<string, ElfFile>();
  private mapsByPid = new Map<number, Mapping[]>();
  /** The pid keepMaps put last in mapsByPid (its most recently seen). */
  private lastKept = -1;
  /** Per mapping of a maps snapshot: its file is stat'ed once, not once per frame or event. */
  private elfByMapping = new WeakMap<Mapping, ElfFile | null>();
  /** Processes whose /proc maps are gone (exited): not read again for every unresolved frame. */
  private mapsGone = new Set<number>();
  private perfMaps = new Map<number, PerfMap | null>();
  private scannedAllProcesses = false;
  private missingBuildIds = new Set<string>();
  private framesByBuildId = new Map<string, Frame>();
  private rescanned = new Set<number>();
  /** Whether pid runs in another mount namespace than memscope (a container): learned while it
   * lives, with its maps. Its files are read through /proc/PID/root, never as the host's file of
   * the same path (a container's libc is not the host's), and opened as soon as its maps are read:
   * that path dies with the process, and its stacks are often named after (an OOM victim's). */
  private foreignNs = new Map<number, boolean>();
  /** Files reached through /proc/PID/root, by pid, and the pids that reach each (one ElfFile
   * serves every process that maps the same file): a file is closed when its last pid is
   * forgotten, not its first (an OOM victim's executable, shared with an exited sibling). */
  private filesByPid = new Map<number, Set<ElfFile>>();
  private pidsByFile = new Map<ElfFile, { id: string; pids: Set<number> }>();

  /**
   * Keeps pid's maps as its most recently seen (MAX_PROCESSES, symbols/cache-caps.ts): past the
   * cap the maps of processes that ended go first, then those read from /proc (read again while
   * the process lives), least recently seen first; a process whose mappings the sample ring sends
   * and whose exit note has not been read yet is forgotten only past twice the cap (an exited
   * one's frames then stay unnamed). Every one forgotten is counted in the accounting.
   */
  private keepMaps(pid: number, maps: Mapping[]): void {
    // the most recently seen already (every frame of a sample, a process's samples in a row):
    // nothing moves. Moving it anyway (delete, set) left a deleted slot in a Map of up to 8,192
    // processes each time, and every few thousand lookups V8 made the table again (fresh memory)
    if (pid === this.lastKept && this.mapsByPid.get(pid) === maps) return;
    this.lastKept = pid;
    this.mapsByPid.delete(pid);
    this.mapsByPid.set(pid, maps);
    const cap = MAX_PROCESSES + this.held.size;
    // processes BPF said ended first (oldest end first): no record of theirs is still on its way.
    for (const old of this.endedPids) {
      if (this.mapsByPid.size <= cap) break;
      if (old !== pid && !this.held.has(old)) this.dropMaps(old);
    }
    // Then maps read from /proc. One the ring sends and that has not ended (in the ring's order)
    // may still have records on the ring: BPF sends each mapping once per process image, so a
    // stack note read later would find them gone and the stack stay UNNAMED. With the ring read
    // in batches (IDLE_MS) a fork storm's children were forgotten so between their mappings and
    // their stack notes (faults-conditions' 4-process case, 6 of 6 runs at 20 ms). Only the
    // RING_SCAN least recently seen are looked at, so a host of live ring processes past the cap
    // does not make every call walk them all.
    let scanned = 0;
    for (const old of this.mapsByPid.keys()) {
      if (this.mapsByPid.size <= cap || ++scanned > RING_SCAN) break;
      if (old !== pid && !this.held.has(old) && !this.ringPids.has(old)) this.dropMaps(old);
    }
    // the hard bound: past twice the cap, least recently seen first, whatever they are
    for (const old of this.mapsByPid.keys()) {
      if (this.mapsByPid.size <= cap + MAX_PROCESSES) break;
      if (old !== pid && !this.held.has(old)) this.dropMaps(old);
    }
    // pids only ever looked up (gone, JIT maps): emptied past the cap, they are found again
    if (this.mapsGone.size > 65536) this.mapsGone.clear(); // pids only: 4 MiB at most
    if (this.perfMaps.size > MAX_PROCESSES) this.perfMaps.clear();
    if (this.rescanned.size > MAX_PROCESSES) this.rescanned.clear();
  }

  /** Forgets pid's maps past the cap (counted). */
  private dropMaps(pid: number): void {
    // the ring sends each mapping once per process image: what it sent of pid is lost, and the
    // mappings recorded from now on are no longer complete (ringOrdered)
    if (this.ringPids.has(pid)) {
      if (this.ringLost.size > 65536) this.ringLost.clear(); // pids only
      this.ringLost.add(pid);
    }
    this.mapsByPid.delete(pid);
    this.ringPids.delete(pid);
    this.imageUntold.delete(pid);
    this.endedPids.delete(pid);
    this.foreignNs.delete(pid);
    this.perfMaps.delete(pid);
    this.rescanned.delete(pid);
    evictions.processes++;
  }

  /** Processes whose end BPF noted on the sample ring, in that order (ended()): a subset of
   * mapsByPid's keys. */
  private endedPids = new Set<number>();

  /** pid ended (its exit note, after every record of it on the sample ring): its mappings are
   * needed now only for the stacks already noted, and are the first forgotten past the cap. */
  ended(pid: number): void {
    if (this.mapsByPid.has(pid)) this.endedPids.add(pid);
  }

  /** Processes whose executable mappings BPF sends on a sample ring (recordMapping), before each
   * stack note that needs them: for these the ring alone says what is mapped, in the events' order. */
  private ringPids = new Set<number>();

  /** The mappings arrays recordMapping made: complete, in the ring's order, up to the stack noted
   * with one (BPF sends a stack's mappings before its note). An array read from /proc is not: it
   * may be older than a stack noted with it (a library loaded since). */
  private ringOrdered = new WeakSet<readonly Mapping[]>();

  /** Processes whose ring-sent mappings were forgotten past the cap (dropMaps): not sent again. */
  private ringLost = new Set<number>();

  /** The program image (mm->start_stack, placed anew at each exec) each mappings array is of, where
   * known (imageOf): a /proc read's, from /proc/PID/stat around it; a ring record's, from the next
   * DWARF sample of its process (sampledImage), IMAGE_PENDING until then. */
  private imageOfMaps = new WeakMap<readonly Mapping[], bigint>();
  /** Processes with ring records since their last DWARF sample (sampledImage), each with its
   * mappings as they were before the first of them (of a told image, or read from /proc). */
  private imageUntold = new Map<number, readonly Mapping[] | undefined>();

  /** Records what a process has mapped while it is alive, so its frames resolve after it exits. */
  observe(pid: number, executable?: string): void {
    this.take(pid, executable, true);
  }

  /** observe() (open: the files at once) or note() (open: when named). */
  private take(pid: number, executable: string | undefined, open: boolean): void {
    // the process note comes on another ring, read at whatever moment: after an exec, a /proc read
    // would be of the new program, perhaps at the old one's addresses (two non-PIE programs), while
    // stacks of the old one are still on the sample ring. A process whose mappings that ring sends
    // keeps them (the new program's follow there); any other (trace's, or a new process under an
    // ended one's pid) is read from /proc as before.
    if (this.ringPids.has(pid) && this.mapsByPid.has(pid) && !this.endedPids.has(pid)) {
      this.mapsGone.delete(pid);
      if (open && executable && !this.foreignNs.get(pid)) this.elfFor(executable);
      return;
    }
    const maps = this.readLiveMaps(pid);
    // the executable's path is the process's own: on the host only when it shares our namespace.
    // Opened also when the process is gone by the time its note is read (a short program under
    // load: trace -U's brk_grow had exited, its maps empty): its frames come as build ids, and a
    // file found by its build id names no other program's frames
    if (open && executable && !this.foreignNs.get(pid)) this.elfFor(executable);
    if (!maps) return;
    this.mapsGone.delete(pid); // a new process with a reused pid, or a new program after exec
    if (open) for (const m of maps) this.elfOfMapping(pid, m);
  }

  /** pid's maps read from /proc now (null when it has exited), kept as its most recently seen,
   * with whether it runs in another mount namespace; a container's files are opened at once. */
  private readLiveMaps(pid: number): Mapping[] | null {
    // the program image the maps are of: the same startstack before and after the read (an exec in
    // between would give one image's maps under the other's mark)
    let maps: Mapping[] | null = null;
    let image: bigint | undefined;
    for (let tries = 0; tries < 3 && image === undefined; tries++) {
      const before = readPidStat(pid)?.startstack;
      maps = readMaps(pid);
      if (!maps || !maps.length) break;
      if (before !== undefined && before === readPidStat(pid)?.startstack) image = before;
    }
    if (!maps || !maps.length) return null;
    if (image) this.imageOfMaps.set(maps, image);
    this.endedPids.delete(pid); // it lives: a new process under an ended one's pid
    try {
      this.foreignNs.set(pid, fs.readlinkSync(`/proc/${pid}/ns/mnt`) !== OWN_MOUNT_NS);
    } catch {
      this.foreignNs.delete(pid); // exited between the two reads: the path test below decides
    }
    this.keepMaps(pid, maps);
    if (this.foreignNs.get(pid)) for (const m of maps) this.elfOfMapping(pid, m);
    return maps;
  }

  /**
   * observe() without opening the files on the host: only the maps are read (while the process
   * lives) and kept, so its frames resolve later; a file is opened when a frame first needs it
   * (elfOfMapping, or a build id looked for in the kept maps). For a long-running reader that hears
   * of every new process (the agent), whose stacks nobody may ever ask for: an idle agent beside a
   * busy host made 1,375 statx calls in 10 s opening them, 162 with note(). A process in another
   * mount namespace still has its files opened at once (reachable only while it lives).
   */
  note(pid: number): void {
    this.take(pid, undefined, false);
  }

  /** Opens the files of pid's kept maps (note() left them closed): a build id looked up now. */
  private openKeptMaps(pid: number): void {
    for (const m of this.mapsByPid.get(pid) ?? []) this.elfOfMapping(pid, m);
  }

  private observeOnce(pid: number): void {
    if (this.rescanned.has(pid)) return;
    this.rescanned.add(pid);
    this.observe(pid);
  }

  /** A kernel stack, innermost first, beginning at the traced event: the tracer's own frames on top
   * (the BPF program, bpf_trace_run, perf's tracepoint glue) are dropped, as BCC and perf show them. */
  kernel(addrs: bigint[]): Frame[] {
    if (addrs.length === 0) return [];
    if (!this.kallsyms) this.kallsyms = KernelSymbols.load();
    const frames: Frame[] = addrs.map((addr) => {
      const s = this.kallsyms!.lookup(addr);
      return s ? { addr, symbol: s.name, offset: s.offset, module: s.module } : { addr, symbol: null, offset: 0, module: null };
    });
    let top = 0;
    while (top < frames.length - 1 && isTracerFrame(frames[top])) top++;
    return top ? frames.slice(top) : frames;
  }

  user(pid: number, frames: UserFrame[]): Frame[] {
    moduleCache.nextEpoch(); // one stack: its files' tables stay while it is named
    return frames.map((f) => ('buildId' in f ? this.byBuildId(pid, f.buildId, f.fileOffset) : this.byAddress(pid, f.ip)));
  }

  private byBuildId(pid: number, buildId: string, fileOffset: bigint): Frame {
    // a (build id, offset) pair means the same code in every process: resolve each once
    const key = buildId + fileOffset.toString(16);
    let frame = this.framesByBuildId.get(key);
    if (!frame) {
      const elf = this.elfForBuildId(buildId, pid);
      frame = elf ? this.resolveInFile(elf, Number(fileOffset), fileOffset) : { addr: fileOffset, symbol: null, offset: 0, module: null };
      // an unknown build id may become known when a later process maps the file: don't pin misses
      if (elf) this.framesByBuildId.set(key, frame);
    }
    return frame;
  }

  /** The file behind a user frame of pid (its mappings' whole range, the build id), for profile
   * mappings (pprof); undefined when the process's maps are not known. */
  moduleOf(pid: number, f: Frame): { file: string; buildId: string | null; start: bigint; end: bigint; offset: bigint } | undefined {
    if (!f.module || f.note) return undefined;
    let maps = this.mapsByPid.get(pid);
    if (!maps && !this.mapsGone.has(pid)) maps = this.readLiveMaps(pid) ?? undefined;
    const same = (maps ?? []).filter((m) => isFileMapping(m) && path.basename(m.path) === f.module);
    if (!same.length) return undefined;
    const elf = this.elfOfMapping(pid, same[0]);
    return { file: same[0].path, buildId: elf?.buildId ?? null, start: same[0].start, end: same[same.length - 1].end, offset: same[0].offset };
  }

  /** Processes with samples waiting to be unwound (how many each): their maps are not forgotten
   * until then. As many as the samples in the unwind queue at most (UNWIND_QUEUE_BYTES). */
  private held = new Map<number, number>();

  /** Keeps pid's maps (read now if not known) until release(pid): a sample of it waits. */
  hold(pid: number): void {
    const n = this.held.get(pid);
    if (n) {
      this.held.set(pid, n + 1);
      return;
    }
    this.held.set(pid, 1);
    this.hasMaps(pid);
  }

  release(pid: number): void {
    const n = this.held.get(pid) ?? 0;
    if (n > 1) this.held.set(pid, n - 1);
    else this.held.delete(pid);
  }

  /** Whether pid's mappings are known: recorded, or read now while it lives. */
  hasMaps(pid: number): boolean {
    if (this.mapsByPid.has(pid)) return true;
    if (this.mapsGone.has(pid)) return false;
    if (this.readLiveMaps(pid)) return true;
    this.mapsGone.add(pid);
    return false;
  }

  /** pid's mappings as recorded at this moment (read from /proc if none are and it lives), for a
   * stack noted now and pinned later (pin's at): every change makes a new array, so later records
   * (an exec's, a /proc read's) never reach it. */
  mapsNow(pid: number): readonly Mapping[] | undefined {
    this.hasMaps(pid);
    return this.mapsByPid.get(pid);
  }

  /** The program image (mm->start_stack) maps are of; IMAGE_PENDING for ring records whose image is
   * not told yet; undefined when it could not be told (a process whose startstack /proc hides). A
   * DWARF sample carries its own image's start_stack: maps of another image must not name it. */
  imageOf(maps: readonly Mapping[] | undefined): bigint | undefined {
    return maps ? this.imageOfMaps.get(maps) : undefined;
  }

  /** pid's maps for a sample of program image startStack: those recorded, or, when they were read
   * from /proc at an older image (the sample's process exec'd since) or at one that could not be
   * told, read again once. A sample of an image the process has left gets maps of another (or of
   * no told) image: the caller marks it. */
  mapsForImage(pid: number, startStack: bigint): readonly Mapping[] | undefined {
    const maps = this.mapsNow(pid);
    const image = this.imageOf(maps);
    // (maps whose image could not be told, read in the middle of an exec, are read again too)
    if (!maps || sameImage(image, startStack) || !startStack || image === IMAGE_PENDING) return maps;
    if (sameImage(this.imageLeft.get(pid), startStack) || this.ringPids.has(pid)) return maps;
    const now = this.readLiveMaps(pid) ?? maps;
    // not this image now: the process left it, and no later read will find it again
    if (!sameImage(this.imageOf(now), startStack)) {
      if (this.imageLeft.size > MAX_PROCESSES) this.imageLeft.clear();
      this.imageLeft.set(pid, startStack);
    }
    return now;
  }
  /** The image each process was last found to have left (mapsForImage): not read again for it. */
  private imageLeft = new Map<number, bigint>();

  /** A DWARF sample of pid, or a walked stack's note, arrived (in the ring's order) from program
   * image startStack: ring records of pid received since the last one, sent before it by BPF, are
   * of that image. */
  sampledImage(pid: number, startStack: bigint): void {
    if (!this.imageUntold.size || !this.imageUntold.has(pid)) return;
    const before = this.imageUntold.get(pid);
    this.imageUntold.delete(pid);
    let maps = this.mapsByPid.get(pid);
    if (!maps || !startStack) return;
    // the records came on top of mappings of another image (or of none told): a /proc read made
    // after an exec, when the process note came late, or the program exec'd away from. Kept, they
    // would name this image's frames in the other's code at the same addresses (two non-PIE
    // programs): only the records are this image's
    if (before && !sameImage(this.imageOfMaps.get(before), startStack)) {
      const old = new Set(before);
      const own = maps.filter((m) => !old.has(m));
      if (this.ringOrdered.has(maps)) this.ringOrdered.add(own);
      this.keepMaps(pid, (maps = own));
    }
    this.imageOfMaps.set(maps, startStack);
  }

  /** Processes whose mappings are recorded. */
  knownPids(): number[] {
    return [...this.mapsByPid.keys()];
  }

  /** Forgets what was recorded for an exited process (a long-running agent sees many pids). */
  forget(pid: number): void {
    // its container files, once no other process reaches them: their held fds closed, so they
    // are not kept open for the agent's life
    for (const elf of this.filesByPid.get(pid) ?? []) {
      const users = this.pidsByFile.get(elf);
      users?.pids.delete(pid);
      if (!users || users.pids.size) continue;
      this.pidsByFile.delete(elf);
      const id = users.id;
      elf.close();
      moduleCache.remove(elf);
      this.elfByIdentity.delete(id);
      if (elf.buildId && this.elfByBuildId.get(elf.buildId) === elf) this.elfByBuildId.delete(elf.buildId);
    }
    this.filesByPid.delete(pid);
    this.mapsByPid.delete(pid);
    this.ringPids.delete(pid);
    this.ringLost.delete(pid);
    this.imageUntold.delete(pid);
    this.imageLeft.delete(pid);
    this.endedPids.delete(pid);
    this.foreignNs.delete(pid);
    this.mapsGone.delete(pid);
    this.perfMaps.delete(pid);
    this.rescanned.delete(pid);
  }

  /**
   * The mapping of pid that holds ip (maps are read again once if none does: new libraries).
   * image: the program image (mm->start_stack) ip is an address of, where the caller knows it (a
   * DWARF sample's): only maps told to be of that image are looked in, the ones known or a /proc
   * read's. After an exec the process's maps are of another program, perhaps with other code at
   * the same address (two non-PIE programs), and a read in the middle of one cannot be told.
   */
  mappingAt(pid: number, ip: bigint, image?: bigint): Mapping | undefined {
    const of = (maps: readonly Mapping[]) => !image || sameImage(this.imageOfMaps.get(maps), image);
    let maps = this.mapsByPid.get(pid);
    let m = maps && of(maps) ? findMapping(maps, ip) : undefined;
    if (m) this.keepMaps(pid, maps!); // most recently seen
    if (!m && !this.mapsGone.has(pid)) {
      // libraries loaded since the last look: read again while the process lives
      // (an exiting process shows empty maps: keep what was recorded while it lived)
      const now = this.readLiveMaps(pid);
      if (now) {
        maps = now;
        m = of(maps) ? findMapping(maps, ip) : undefined;
      } else this.mapsGone.add(pid);
    }
    return m;
  }

  /** Records one mapping of pid learned elsewhere (from BPF, while the process lived), replacing
   * the ones it overlaps. */
  recordMapping(pid: number, m: Mapping): void {
    this.mapsGone.delete(pid); // it lives (it may have looked gone while it exec'd)
    this.endedPids.delete(pid); // records after an exit note: a new process under the same pid
    const known = this.mapsByPid.get(pid) ?? [];
    const maps = known.filter((x) => x.end <= m.start || x.start >= m.end);
    // BPF does not say which image a record is of (its stack has no room): the records it sends
    // before a DWARF sample are of that sample's image (sampledImage). Until then the image stays
    // the one known, unless the record replaces another file's code (an exec to a program at the
    // same addresses): then a sample checked against these maps is marked, not named
    const image = this.imageOfMaps.get(known);
    const replaces = maps.length < known.length && !known.some((x) => x.start === m.start && x.end === m.end && x.inode === m.inode && x.offset === m.offset);
    this.imageOfMaps.set(maps, image === undefined || replaces ? IMAGE_PENDING : image);
    if (!this.imageUntold.has(pid)) this.imageUntold.set(pid, this.mapsByPid.has(pid) ? known : undefined);
    maps.push(m);
    maps.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.keepMaps(pid, maps);
    this.ringPids.add(pid);
    if (!this.ringLost.has(pid)) this.ringOrdered.add(maps);
    // opened now and kept with the mapping: a file in another mount namespace is reachable only
    // through /proc/PID/root while the process lives (a container's OOM victim is gone by the
    // time its stacks are named)
    if (isFileMapping(m)) this.elfOfMapping(pid, m);
  }

  /** The ELF file behind a file mapping of pid (cached by file identity), for CFI readers. */
  elfOfMapping(pid: number, m: Mapping): ElfFile | null {
    if (!isFileMapping(m)) return null;
    let elf = this.elfByMapping.get(m);
    if (elf === undefined) {
      // the process's own path first, then (gone with it) the file's device and path on it
      const file = this.procPath(pid, m);
      elf = (this.replacedSince(file, m) ? null : this.elfFor(file)) ?? (m.onDevice ? this.elfOnDevice(pid, m.onDevice) : null);
      this.elfByMapping.set(m, elf);
    }
    return elf;
  }

  /**
   * A host path that now holds another file than the one mapped (an upgrade or deploy replaced the
   * binary while the process ran, or after it exited): its symbols would name the frames wrongly.
   * Files are opened when a frame first needs them (note()), which can be long after the mapping
   * was seen. Only for the host's own paths, whose inode is the one /proc/PID/maps and BPF report
   * (through /proc/PID/root an overlay may report another); inode 0 is unknown.
   */
  private replacedSince(file: string, m: Mapping): boolean {
    if (file !== m.path || !m.inode) return false;
    try {
      return fs.statSync(file).ino !== m.inode;
    } catch {
      return false; // gone: elfFor says so
    }
  }

  /** The file of a mapping BPF sent, found by its device and path on it (symbols/on-device.ts):
   * when /proc/PID/root is gone with the process. Held open until pid is forgotten. */
  private elfOnDevice(pid: number, f: FileOnDevice): ElfFile | null {
    const got = openOnDevice(f);
    if (!got) return null;
    const id = `${got.st.dev}:${got.st.ino}:${got.st.mtimeMs}`;
    let elf = this.elfByIdentity.get(id);
    if (elf) fs.closeSync(got.fd);
    else {
      elf = ElfFile.readHeld(got.fd, got.path);
      this.elfByIdentity.set(id, elf);
      if (!elf) return null;
      if (elf.buildId && !this.elfByBuildId.has(elf.buildId)) this.elfByBuildId.set(elf.buildId, elf);
    }
    this.holds(pid, elf, id);
    return elf;
  }

  /** The separate debug file of a binary (build-id or .gnu_debuglink), if installed. */
  debugFile(elf: ElfFile): ElfFile | null {
    return this.debugFileFor(elf);
  }

  /**
   * Pins a user stack of pid to the mappings (and files) its frames lie in, while they are known:
   * cheap (no symbol table is read), so it can run for every new stack as it is counted; name()
   * gives its frames later, after pid may have exited and its mappings been forgotten. image: the
   * program image the stack is of, where known (mappingAt's): a frame outside `at` is looked up
   * only in maps of that image.
   */
  pin(pid: number, frames: UserFrame[], at?: readonly Mapping[], image?: bigint): PinnedStack | null {
    let lost = false;
    // at: the mappings recorded when the stack was noted (mapsNow). Made from the sample ring's
    // records, they hold every mapping of the stack (sent before its note): a frame in none of
    // them (a made-up return address, or code BPF does not send: anonymous JIT code, named
    // through the perf map) stays without a mapping, for the process's mappings now may be of a
    // program exec'd since, and would name it there. Read from /proc, they may be older than the
    // stack (a library loaded since, or a -c child noted before its exec): looked up now as before
    const strict = at !== undefined && this.ringOrdered.has(at);
    const maps = frames.map((f) => {
      if ('buildId' in f) return undefined;
      const m = (at && findMapping(at, f.ip)) || (strict ? undefined : this.mappingAt(pid, f.ip, image));
      if (m)
        this.elfOfMapping(pid, m); // the file opened now, kept with the mapping
      // in no mapping known, and the process gone: its maps were forgotten (MAX_PROCESSES) and
      // only partly recorded again: not named rather than named in part
      else if (!strict && this.mapsGone.has(pid)) lost = true;
      return m;
    });
    return lost ? null : { frames, maps };
  }

  /** The frames of a pinned stack. */
  name(pid: number, p: PinnedStack): Frame[] {
    return this.nameAll([{ pid, stack: p }])[0];
  }

  /**
   * The frames of many pinned stacks, named one file at a time: each file's symbol table is read
   * once for all of them, even when the module cache (MODULE_CACHE_BYTES) cannot hold every file
   * the stacks pass through at once (frame by frame, such a table would be read again each time
   * another file's came between).
   */
  nameAll(stacks: { pid: number; stack: PinnedStack }[]): Frame[][] {
    const out: Frame[][] = stacks.map((s) => new Array<Frame>(s.stack.frames.length));
    const byElf = new Map<ElfFile, [number, number, number, bigint][]>();
    const other = new Map<number, Map<bigint, [Mapping | undefined, Frame]>>();
    stacks.forEach(({ pid, stack }, i) => {
      stack.frames.forEach((f, j) => {
        if ('buildId' in f) {
          out[i][j] = this.byBuildId(pid, f.buildId, f.fileOffset);
          return;
        }
        const m = stack.maps[j];
        const elf = m && isFileMapping(m) ? this.elfOfMapping(pid, m) : null;
        if (!elf) {
          // JIT code and other memory of no file: shared too (below), per process, address and
          // mapping
          let mine = other.get(pid);
          if (!mine) other.set(pid, (mine = new Map()));
          const made = mine.get(f.ip);
          if (made && made[0] === m) out[i][j] = made[1];
          else {
            out[i][j] = this.inMapping(pid, f.ip, m);
            if (!made) mine.set(f.ip, [m, out[i][j]]);
          }
          return;
        }
        let list = byElf.get(elf);
        if (!list) byElf.set(elf, (list = []));
        list.push([i, j, Number(f.ip - m!.start + m!.offset), f.ip]);
      });
    });
    for (const [elf, list] of byElf) {
      moduleCache.nextEpoch();
      // one Frame per distinct place in the file (and address), shared by every stack through it
      // (frames are never changed once made): a storm's 32,768 stacks hold their ~500,000 frames
      // as a few thousand objects, not ~100 MiB of copies (ARCHITECTURE.md "Memory bound")
      const made = new Map<number, Frame>();
      for (const [i, j, off, ip] of list) {
        const f = made.get(off);
        if (f && f.addr === ip) out[i][j] = f;
        else {
          out[i][j] = this.resolveInFile(elf, off, ip);
          if (!f) made.set(off, out[i][j]);
        }
      }
    }
    return out;
  }

  private byAddress(pid: number, ip: bigint): Frame {
    return this.inMapping(pid, ip, this.mappingAt(pid, ip));
  }

  private inMapping(pid: number, ip: bigint, m: Mapping | undefined): Frame {
    if (m && isFileMapping(m)) {
      const elf = this.elfOfMapping(pid, m);
      const fileOffset = Number(ip - m.start + m.offset);
      if (elf) return this.resolveInFile(elf, fileOffset, ip);
      return { addr: ip, symbol: null, offset: 0, module: path.basename(m.path) };
    }
    if (m && m.path === '[vdso]') {
      const named = vdsoFrame(m, ip);
      if (named) return named;
    }
    const jit = this.perfMapFor(pid)?.lookup(ip);
    if (jit) return { addr: ip, symbol: jit.name, offset: jit.offset, module: 'JIT' };
    const module = m ? m.path || '[anon]' : null;
    return { addr: ip, symbol: null, offset: 0, module: module && module.startsWith('[') ? module.slice(1, -1) : module };
  }

  private resolveInFile(elf: ElfFile, fileOffset: number, addr: bigint): Frame {
    const module = path.basename(elf.path);
    const vaddr = elf.vaddrOfFileOffset(fileOffset);
    if (vaddr === null) return { addr, symbol: null, offset: 0, module };
    const sym = this.symbolsOf(elf).lookup(vaddr);
    return sym ? { addr, symbol: sym.name, offset: sym.offset, module } : { addr, symbol: null, offset: 0, module };
  }

  /** Symbols of a binary, from a separate debug file when the binary itself is stripped. */
  private symbolsOf(elf: ElfFile) {
    if (!elf.hasSymtab()) {
      const dbg = this.debugFileFor(elf);
      if (dbg && dbg.hasSymtab()) return cachedSymbols(dbg);
    }
    return cachedSymbols(elf);
  }

  private debugFileFor(elf: ElfFile): ElfFile | null {
    const key = elf.buildId ?? elf.path;
    if (this.debugByBuildId.has(key)) return this.debugByBuildId.get(key)!;
    const candidates: string[] = [];
    if (elf.buildId) candidates.push(`/usr/lib/debug/.build-id/${elf.buildId.slice(0, 2)}/${elf.buildId.slice(2)}.debug`);
    if (elf.debuglink) {
      const dir = path.dirname(elf.path);
      candidates.push(path.join(dir, elf.debuglink), path.join(dir, '.debug', elf.debuglink), path.join('/usr/lib/debug', dir, elf.debuglink));
    }
    let found: ElfFile | null = null;
    for (const c of candidates) {
      if (c === elf.path || !fs.existsSync(c)) continue;
      const d = ElfFile.read(c);
      if (d && (!elf.buildId || !d.buildId || d.buildId === elf.buildId)) {
        found = d;
        break;
      }
    }
    this.debugByBuildId.set(key, found);
    return found;
  }

  /** An ELF file, cached by identity (device, inode, mtime) so a rebuilt binary is read afresh. */
  private elfFor(file: string): ElfFile | null {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      // gone or unreadable (deleted, another mount namespace): the frame stays unresolved
      return null;
    }
    const id = `${st.dev}:${st.ino}:${st.mtimeMs}`;
    if (!this.elfByIdentity.has(id)) {
      const elf = ElfFile.read(file);
      // a file in another mount namespace is reachable only while a process there lives: its
      // symbols are read now, not when a frame first needs them
      if (elf && file.startsWith('/proc/')) cachedSymbols(elf);
      this.elfByIdentity.set(id, elf);
      if (elf?.buildId && !this.elfByBuildId.has(elf.buildId)) this.elfByBuildId.set(elf.buildId, elf);
    }
    const elf = this.elfByIdentity.get(id) ?? null;
    const user = elf && /^\/proc\/(\d+)\/root\//.exec(file);
    if (user) this.holds(Number(user[1]), elf!, id);
    return elf;
  }

  /** pid reaches elf through its /proc/PID/root: the file stays open until pid is forgotten. */
  private holds(pid: number, elf: ElfFile, id: string): void {
    let files = this.filesByPid.get(pid);
    if (!files) this.filesByPid.set(pid, (files = new Set()));
    files.add(elf);
    const users = this.pidsByFile.get(elf);
    if (users) users.pids.add(pid);
    else this.pidsByFile.set(elf, { id, pids: new Set([pid]) });
  }

  private elfForBuildId(buildId: string, pid: number): ElfFile | null {
    const known = this.elfByBuildId.get(buildId);
    if (known) return known;
    if (this.missingBuildIds.has(buildId)) return null;
    // each costly look happens once per symbolizer: a build id seen nowhere (a deleted file, a
    // binary without symbols on disk) must not re-read every process's maps for every frame
    const lookups: (() => void)[] = [
      () => this.openKeptMaps(pid),
      () => this.observeOnce(pid),
      () => this.observeOnce(process.pid),
      () => {
        const dbg = `/usr/lib/debug/.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug`;
        if (fs.existsSync(dbg)) this.elfFor(dbg);
      },
      () => this.scanAllProcesses(),
    ];
    for (const step of lookups) {
      step();
      const elf = this.elfByBuildId.get(buildId);
      if (elf) return elf;
    }
    this.missingBuildIds.add(buildId);
    return null;
  }

  /** Last resort for a build id seen nowhere else: every running process's mapped files. */
  private scanAllProcesses(): void {
    if (this.scannedAllProcesses) return;
    this.scannedAllProcesses = true;
    for (const d of fs.readdirSync('/proc')) if (/^\d+$/.test(d)) this.observe(Number(d));
  }

  /** A path to the mapped file that also works for processes in other mount namespaces. */
  private procPath(pid: number, m: Mapping): string {
    const foreign = this.foreignNs.get(pid);
    if (pid === process.pid || foreign === false) return m.path;
    if (foreign === undefined && sameFile(m.path, m.onDevice)) return m.path; // namespace not learned: a guess
    return `/proc/${pid}/root${m.path}`;
  }

  private perfMapFor(pid: number): PerfMap | null {
    if (!this.perfMaps.has(pid)) this.perfMaps.set(pid, PerfMap.read(pid));
    return this.perfMaps.get(pid)!;
  }
}

/** Whether the host's file at path may be the mapped one: it exists and, when BPF said which
 * file was mapped (a process gone before its namespace was learned), it has that inode number and
 * size: a container's /lib/x86_64-linux-gnu/libc.so.6 is not the host's. (Not the device: a btrfs
 * subvolume's files show another st_dev than their superblock's.) */
function sameFile(file: string, f: FileOnDevice | undefined): boolean {
  try {
    const st = fs.statSync(file);
    return !f || (st.ino === f.ino && st.size === f.size);
  } catch {
    return false;
  }
}

/** A file's symbol table, counted in the module cache's byte budget (evicted least recently
 * used first, read again from the file when needed). */
function cachedSymbols(elf: ElfFile) {
  const t = elf.symbols();
  if (elf.symbolsLoaded && !moduleCache.seen(elf)) moduleCache.use(elf, elf.symbolBytes, () => elf.dropSymbols());
  return t;
}

/** A frame in a process's [vdso], named with memscope's own copy of the image (the same in every
 * 64-bit process of this kernel: a mapping of another size is not trusted to be it). */
function vdsoFrame(m: Mapping, ip: bigint): Frame | null {
  const elf = vdsoSymbols();
  const img = vdsoImage();
  if (!elf || !img || m.end - m.start !== BigInt(img.length)) return null;
  const vaddr = elf.vaddrOfFileOffset(Number(ip - m.start));
  const sym = vaddr === null ? null : elf.symbols().lookup(vaddr);
  return sym ? { addr: ip, symbol: sym.name, offset: sym.offset, module: 'vdso' } : null;
}
