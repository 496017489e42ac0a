// Ping-based measurements: the wall-clock time of the first echo reply from a namespace (join / first-ping
// figures, taken from `ping -D` timestamps like the overlay anchors do), and a continuous prober whose reply
// log gives the outage around a link failure (failover figures).

import { readFileSync } from 'node:fs'
import type { Proc } from '../../netns-tests/lib/proc.js'
import type { Host } from '../../netns-tests/lib/topology.js'

/** One parsed `ping -D` reply line. */
export interface Reply {
  /** Wall-clock receive time, ms since the epoch (ping's -D stamp). */
  rxMs: number
  seq: number
  rttMs: number
}

const REPLY = /^\[(\d+\.\d+)\].*icmp_seq=(\d+).*time=([\d.]+) ms/

export function parseReplies(text: string): Reply[] {
  const out: Reply[] = []
  for (const line of text.split('\n')) {
    const m = REPLY.exec(line)
    if (m) out.push({ rxMs: Number(m[1]) * 1000, seq: Number(m[2]), rttMs: Number(m[3]) })
  }
  return out
}

/** /proc/net/route's Destination column for an IPv4 network address (little-endian hex). */
export function routeHex(network: string): string {
  return network
    .split('.')
    .map((o) => Number(o).toString(16).toUpperCase().padStart(2, '0'))
    .reverse()
    .join('')
}

/** Whether the IPv4 routing table that /proc/<pid>/net/route shows has a route to the network `hex` (routeHex). */
function hasRoute(pid: number, hex: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/net/route`, 'utf8')
      .split('\n')
      .some((line) => line.split('\t')[1] === hex)
  } catch {
    return false
  }
}

/** Whether `pid` runs `command` (before its exec, `ip netns exec` may not be in the namespace yet). */
function runs(pid: number, command: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8') === `${command}\n`
  } catch {
    return false
  }
}

/** An idle `sleep` in a host's namespace, through which firstReplyAt reads that namespace's routing table. */
export interface RouteWatch {
  readonly host: Host
  readonly proc: Proc
}

/**
 * Starts a RouteWatch for firstReplyAt and waits until it runs in its namespace (before its exec, `ip netns
 * exec` may not be in the namespace yet); null if it did not within deadlineMs. A bench that times a start-up
 * starts these before its clock: spawning six of them through `ip netns exec` is CPU the timed daemons would
 * otherwise share their cores with.
 */
export async function watchRoutes(
  host: Host,
  deadlineMs: number,
  logName = 'route-wait',
): Promise<RouteWatch | null> {
  const secs = Math.max(1, Math.ceil(deadlineMs / 1000))
  const proc = host.spawn(['sleep', String(secs + 5)], { logName })
  const until = Date.now() + deadlineMs
  while (!runs(proc.pid, 'sleep')) {
    if (Date.now() >= until) {
      await proc.stop(1_000)
      return null
    }
    await new Promise((r) => setTimeout(r, 5))
  }
  return { host, proc }
}

/**
 * The wall-clock time (epoch ms) of the first echo reply from dst, pinging from host every 10 ms once the
 * route to routeNetwork (the overlay's IPv4 network address, e.g. 100.64.0.0) exists; null at the deadline.
 * ping exits at once while there is no route (tunnel device not up yet), so the route is awaited first: by
 * reading the namespace's table from here, through /proc/<pid>/net/route of a RouteWatch (given, or started
 * here), every 5 ms. (A shell loop per pair did the same with one `sleep` process a tick: six pairs forked 600
 * processes a second, about a third of this 2-core machine, during the very start-up being timed.) The watch
 * is stopped either way.
 */
export async function firstReplyAt(
  host: Host,
  dst: string,
  routeNetwork: string,
  deadlineMs: number,
  watch?: RouteWatch,
): Promise<number | null> {
  const until = Date.now() + deadlineMs
  const anchor = watch ?? (await watchRoutes(host, deadlineMs, `route-wait-${dst}`))
  if (anchor === null) return null
  let stopped: Promise<unknown> | null = null
  try {
    const hex = routeHex(routeNetwork)
    while (!hasRoute(anchor.proc.pid, hex)) {
      if (Date.now() >= until) return null
      await new Promise((r) => setTimeout(r, 5))
    }
    // The anchor goes while ping starts: its exit is not part of the time measured.
    stopped = anchor.proc.stop(1_000)
    const left = Math.max(1, Math.ceil((until - Date.now()) / 1000))
    const r = await host.exec(
      ['ping', '-n', '-D', '-i', '0.01', '-W', '1', '-c', '1', '-w', String(left), dst],
      { timeoutMs: 2 * left * 1000 + 5_000 },
    )
    return parseReplies(r.stdout)[0]?.rxMs ?? null
  } finally {
    await (stopped ?? anchor.proc.stop(1_000))
  }
}

/** A long-running `ping -D -i <interval>` in host, logging every reply; read it with replies(). */
export class Prober {
  readonly proc: Proc
  constructor(host: Host, dst: string, intervalS: number, extra: string[] = [], logName = 'probe') {
    this.proc = host.spawn(['ping', '-n', '-D', '-i', String(intervalS), '-W', '2', ...extra, dst], {
      logName,
    })
  }
  replies(): Reply[] {
    return parseReplies(this.proc.logText())
  }
  async stop(): Promise<void> {
    await this.proc.stop(3_000)
  }
}

export interface Outage {
  /** Largest interval between two consecutive replies after the cut (the outage as the pinger saw it), ms. */
  maxGapMs: number
  /** When that gap ended (epoch ms): replies resumed. */
  resumedAt: number
  /** Median RTT of replies more than 1 s after replies resumed (which path is in use), ms. */
  rttAfterMs: number
}

/**
 * Analyses a prober's replies around a failure at cutMs (epoch ms): the largest gap between replies, counted
 * from the last reply before the cut. null until a reply to a probe sent after the cut arrived after a gap of at
 * least minGapMs (a cut takes a few ms to apply: a probe or two may still get through just after cutMs).
 */
export function outage(replies: readonly Reply[], cutMs: number, minGapMs = 100): Outage | null {
  let prev: number | undefined
  let maxGap = 0
  let resumedAt = Number.NaN
  for (const r of replies) {
    if (prev !== undefined && r.rxMs > cutMs && r.rxMs - prev > maxGap) {
      maxGap = r.rxMs - prev
      resumedAt = r.rxMs
    }
    prev = r.rxMs
  }
  if (maxGap < minGapMs) return null
  const after = replies
    .filter((r) => r.rxMs > resumedAt + 1000)
    .map((r) => r.rttMs)
    .sort((a, b) => a - b)
  return {
    maxGapMs: maxGap,
    resumedAt,
    rttAfterMs: after.length ? after[Math.floor(after.length / 2)]! : Number.NaN,
  }
}
