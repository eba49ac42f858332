// Resident memory of the servers, sampled from /proc/PID/status (VmRSS) every ~100 ms.
// Samples are attributed to the phase the bench is in, so the report can say which
// workload drove a server's peak.
import { readFileSync } from 'node:fs';

export function rssMiB(pid: number): number | undefined {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined; // the process has gone
  }
}

export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private phase = 'start';
  /** server name → phase → peak MiB */
  readonly peaks: Record<string, Record<string, number>> = {};
  /** Every sample in order, to find where a peak began (bounded: one per interval). */
  private readonly series: Record<string, Array<{ phase: string; mib: number }>> = {};

  constructor(private readonly pids: Record<string, number>) {}

  start(intervalMs = 100): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Samples from now on count for `phase` (a phase shorter than the interval may get none). */
  setPhase(phase: string): void {
    this.phase = phase;
  }

  /** Peak over all phases. */
  peak(server: string): number {
    return Math.max(0, ...Object.values(this.peaks[server] ?? {}));
  }

  /**
   * The phase in which RSS first came within 2% of the peak. Memory once taken often stays
   * resident, so later phases can show the same peak without having caused it.
   */
  peakPhase(server: string): string {
    const peak = this.peak(server);
    return (this.series[server] ?? []).find((s) => s.mib >= 0.98 * peak)?.phase ?? 'n/a';
  }

  /** Median of a few samples a short time apart, for a quiet server. */
  async idle(server: string, samples = 10, intervalMs = 100): Promise<number> {
    const pid = this.pids[server];
    const values: number[] = [];
    for (let i = 0; i < samples; i++) {
      const v = pid === undefined ? undefined : rssMiB(pid);
      if (v !== undefined) values.push(v);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    values.sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)] ?? 0;
  }

  private sample(): void {
    for (const [server, pid] of Object.entries(this.pids)) {
      const v = rssMiB(pid);
      if (v === undefined) continue;
      (this.series[server] ??= []).push({ phase: this.phase, mib: v });
      const byPhase = (this.peaks[server] ??= {});
      byPhase[this.phase] = Math.max(byPhase[this.phase] ?? 0, v);
    }
  }
}
