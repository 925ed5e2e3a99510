/**
 * CPU and memory of a target, read from /proc. A target is measured as its
 * whole process group, so Kamailio's workers and any helper the SBC forks
 * are counted. Memory is PSS (proportional set size) when the kernel offers
 * it: Kamailio's workers share one large shm segment, and summing RSS would
 * count it once per worker.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck = 0;
function ticksPerSecond(): number {
  if (clkTck > 0) return clkTck;
  try {
    clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    clkTck = 100;
  }
  return clkTck;
}

interface StatFields {
  pgrp: number;
  ticks: number;
}

function readStat(pid: number): StatFields | null {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may contain spaces and parentheses: fields resume after the last ')'.
  const close = s.lastIndexOf(')');
  if (close < 0) return null;
  const f = s.slice(close + 2).split(' ');
  // f[0] is field 3 (state); field n is f[n - 3].
  const pgrp = Number(f[2]);
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  if (!Number.isFinite(pgrp) || !Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return { pgrp, ticks: utime + stime };
}

/** Pids whose process group is pgid. */
export function groupPids(pgid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    const c = e.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(e);
    const st = readStat(pid);
    if (st !== null && st.pgrp === pgid) out.push(pid);
  }
  return out;
}

/** Total CPU seconds (user + system) used so far by the processes. */
export function cpuSeconds(pids: readonly number[]): number {
  let t = 0;
  for (const pid of pids) {
    const st = readStat(pid);
    if (st !== null) t += st.ticks;
  }
  return t / ticksPerSecond();
}

function kbField(text: string, field: string): number | null {
  const i = text.indexOf(field);
  if (i < 0) return null;
  const end = text.indexOf('\n', i);
  const v = Number.parseInt(text.slice(i + field.length, end < 0 ? undefined : end).trim(), 10);
  return Number.isFinite(v) ? v : null;
}

export interface MemorySample {
  rssKb: number;
  /** Proportional set size summed over the group; equals RSS for a single process. null if unreadable. */
  pssKb: number | null;
}

export function memory(pids: readonly number[]): MemorySample {
  let rss = 0;
  let pss = 0;
  let pssOk = pids.length > 0;
  for (const pid of pids) {
    try {
      rss += kbField(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS:') ?? 0;
    } catch {
      /* exited */
    }
    try {
      const v = kbField(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), '\nPss:');
      if (v === null) pssOk = false;
      else pss += v;
    } catch {
      pssOk = false;
    }
  }
  return { rssKb: rss, pssKb: pssOk ? pss : null };
}

/** Memory to compare between targets: PSS when available, else RSS. */
export function memKb(m: MemorySample): number {
  return m.pssKb ?? m.rssKb;
}

/**
 * Measures a process group over an interval: mean CPU% (100 = one core) and
 * peak memory, sampling every intervalMs.
 */
export class GroupMeter {
  private readonly pgid: number;
  private startCpu = 0;
  private startAt = 0;
  private peak: MemorySample = { rssKb: 0, pssKb: null };
  private timer: NodeJS.Timeout | null = null;

  constructor(pgid: number) {
    this.pgid = pgid;
  }

  start(intervalMs = 500): void {
    this.startAt = performance.now();
    this.startCpu = cpuSeconds(groupPids(this.pgid));
    this.peak = memory(groupPids(this.pgid));
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): MemorySample {
    const m = memory(groupPids(this.pgid));
    if (memKb(m) > memKb(this.peak)) this.peak = m;
    return m;
  }

  /** Current memory without stopping. */
  now(): MemorySample {
    return this.sample();
  }

  stop(): { cpuPercent: number; cpuSeconds: number; wallSeconds: number; peak: MemorySample } {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    const wall = (performance.now() - this.startAt) / 1000;
    const cpu = Math.max(0, cpuSeconds(groupPids(this.pgid)) - this.startCpu);
    return { cpuPercent: wall > 0 ? (100 * cpu) / wall : 0, cpuSeconds: cpu, wallSeconds: wall, peak: this.peak };
  }
}
