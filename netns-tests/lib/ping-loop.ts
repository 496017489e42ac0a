// A ping that runs in the background while a test breaks something (a link cut, a key rotation, a kill), and the
// numbers that matter afterwards: how many replies were lost and the longest stretch without any reply. ping -D
// stamps every line with the wall-clock time it printed it, -O reports each probe that got no answer in time,
// so the gap is measured by ping itself, not by our polling.

import type { Proc } from './proc.js'
import type { Host } from './topology.js'

export interface PingLoopStats {
  transmitted: number
  received: number
  lossPct: number
  /** Largest interval between two consecutive replies (or the window's edges), ms. */
  maxGapMs: number
  /** When the largest gap began (epoch ms, the last reply before it). */
  maxGapFrom: number
  /** Every reply: sequence number and wall-clock arrival (epoch ms), in arrival order. */
  replies: Array<{ seq: number; at: number }>
}

export interface PingLoopOptions {
  /** Milliseconds between probes (root may go down to 1). Default 20. */
  intervalMs?: number
  /** Seconds a reply may take before ping reports it missing. Default 1. */
  timeoutS?: number
  logName?: string
}

let seq = 0

export class PingLoop {
  readonly startedAt: number
  readonly intervalMs: number
  private stoppedAt: number | undefined

  private constructor(
    readonly proc: Proc,
    intervalMs: number,
  ) {
    this.startedAt = Date.now()
    this.intervalMs = intervalMs
  }

  /** Starts `ping dst` in host every intervalMs until stop(). */
  static start(host: Host, dst: string, opts: PingLoopOptions = {}): PingLoop {
    const intervalMs = opts.intervalMs ?? 20
    const argv = [
      'ping',
      '-n',
      '-D',
      '-O',
      '-i',
      (intervalMs / 1000).toFixed(3),
      '-W',
      String(opts.timeoutS ?? 1),
      dst,
    ]
    const proc = host.spawn(argv, { logName: opts.logName ?? `ping-loop-${seq++}` })
    return new PingLoop(proc, intervalMs)
  }

  /** Replies printed so far. ping's output to a file is block-buffered: complete only after stop(). */
  replies(): Array<{ seq: number; at: number }> {
    return parseReplies(this.proc.logText())
  }

  /** Stops ping (SIGINT, so it prints its summary) and returns the statistics of the whole run. */
  async stop(): Promise<PingLoopStats> {
    if (this.proc.alive) {
      await this.proc.kill('SIGINT')
      await this.proc.waitExit(5_000).catch(async () => this.proc.kill('SIGKILL'))
    }
    this.stoppedAt ??= Date.now()
    return this.stats()
  }

  /**
   * Statistics over [from, to] (epoch ms; the whole run by default). For a window, the probes counted are those
   * sent after the last reply before `from` and before the first reply after `to` (by sequence number), so the
   * count does not depend on ping keeping its nominal interval on a loaded machine.
   */
  stats(from = this.startedAt, to = this.stoppedAt ?? Date.now()): PingLoopStats {
    const text = this.proc.logText()
    const all = parseReplies(text).sort((a, b) => a.at - b.at)
    const replies = all.filter((r) => r.at >= from && r.at <= to)
    const whole = from <= this.startedAt && to >= (this.stoppedAt ?? to)
    const summary = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text)
    let transmitted: number
    let received: number
    if (whole && summary) {
      transmitted = Number(summary[1])
      received = Number(summary[2])
    } else {
      const before = all.filter((r) => r.at < from).at(-1)
      const after = all.find((r) => r.at > to)
      const seqs = all.map((r) => r.seq)
      const lo = before ? before.seq + 1 : Math.min(...seqs, 1)
      const hi = after ? after.seq - 1 : Math.max(...seqs, lo)
      transmitted = Math.max(0, hi - lo + 1)
      received = new Set(seqs.filter((s) => s >= lo && s <= hi)).size
    }
    let maxGapMs = 0
    let maxGapFrom = from
    let prev = from
    for (const r of replies) {
      if (r.at - prev > maxGapMs) {
        maxGapMs = r.at - prev
        maxGapFrom = prev
      }
      prev = r.at
    }
    if (to - prev > maxGapMs) {
      maxGapMs = to - prev
      maxGapFrom = prev
    }
    const lossPct = transmitted > 0 ? Math.max(0, (100 * (transmitted - received)) / transmitted) : 0
    return { transmitted, received, lossPct, maxGapMs: Math.round(maxGapMs), maxGapFrom, replies }
  }
}

function parseReplies(text: string): Array<{ seq: number; at: number }> {
  const out: Array<{ seq: number; at: number }> = []
  for (const m of text.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from [^:]+: icmp_seq=(\d+)/gm)) {
    out.push({ seq: Number(m[2]), at: Math.round(Number(m[1]) * 1000) })
  }
  return out
}
