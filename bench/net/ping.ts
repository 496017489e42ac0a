// Ping-based measurements: the wall-clock time of the first echo reply from a namespace (join / first-ping
// figures, taken from `ping -D` timestamps like the overlay anchors do), and a continuous prober whose reply
// log gives the outage around a link failure (failover figures).

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

// One bash process per source host, started before a bench's clock: it watches the routing table through
// `ip monitor` (netlink events: no polling) until the overlay's route exists, then, PING_START_DELAY_S later,
// starts one `ping -D` per destination, each every 10 ms until its first reply. ping exits at once while there
// is no route (the tunnel device is not up yet), so the route is awaited first. Each ping writes its output at
// its exit, in one piece (stdout is a file), so the log holds whole lines. A timeout of `read` rechecks the
// table every 200 ms, which covers a route that came between the watcher's start and its subscription.
//
// Forking from the bench process itself (a large Node process: 10-20 ms of CPU per spawn here) or polling the
// namespace's route table every 5 ms from it cost ~250 ms of CPU inside a join's ~1.2 s window, on the two
// cores the timed daemons share.
const PING_AFTER_ROUTE = `
net=$1; end=$((SECONDS + $2)); delay=$3; shift 3
has() { local l; while IFS= read -r l; do [[ $l == "$net/"* ]] && return 0; done < <(ip -4 route show); return 1; }
coproc MON { exec ip -o -4 monitor route; }
echo armed
found=
has && found=1
until [[ -n $found ]]; do
  if IFS= read -r -t 0.2 -u "\${MON[0]}" l; then
    [[ $l == "$net/"* ]] && found=1
  else
    (( $? <= 128 )) && sleep 0.2
    has && found=1
    [[ -z $found ]] && (( SECONDS >= end )) && { echo "no route to $net"; kill "$MON_PID"; exit 3; }
  fi
done
kill "$MON_PID" 2>/dev/null
sleep "$delay"
left=$(( end - SECONDS )); (( left < 1 )) && left=1
for d in "$@"; do ping -n -D -i 0.01 -W 1 -c 1 -w "$left" "$d" & done
wait
`

/**
 * Seconds between the route's appearance and the first pings. Nebula creates its tun device before it has
 * reached its lighthouse, and a packet to a peer sent in that moment costs it a lookup retry: its join took
 * 600-700 ms instead of 40-70 ms when pinged within a millisecond of the route. Every harness that timed it
 * before started its pings later: the anchor's polls the tun device every 50 ms, this bench's polled the route
 * every 5 ms and then forked ping from its own process (~20 ms). Ours configures no peer until its link is up,
 * hundreds of ms after its route, so the delay does not touch its figure.
 */
const PING_START_DELAY_S = 0.02

const REPLY_FROM = /^\[(\d+\.\d+)\] \d+ bytes from ([^:\s]+):/

/**
 * Pings from host to each of dsts once the route to routeNetwork (the overlay's IPv4 network address, e.g.
 * 100.64.0.0) exists, until each answered once or the deadline passed. Start it (and await start()) before the
 * clock; firstReplies() then gives the wall-clock time (epoch ms, ping's -D stamp) of each destination's first
 * reply.
 */
export class ReplyWatch {
  private constructor(
    private readonly proc: Proc,
    private readonly dsts: readonly string[],
    private readonly until: number,
  ) {}

  static async start(
    host: Host,
    dsts: readonly string[],
    routeNetwork: string,
    deadlineMs: number,
    logName = 'route-wait',
  ): Promise<ReplyWatch> {
    const secs = Math.max(1, Math.ceil(deadlineMs / 1000))
    const proc = host.spawn(
      [
        'bash',
        '-c',
        PING_AFTER_ROUTE,
        'ping-after-route',
        routeNetwork,
        String(secs),
        String(PING_START_DELAY_S),
        ...dsts,
      ],
      {
        logName,
      },
    )
    try {
      await proc.waitForLog('armed', 10_000)
    } catch (err) {
      await proc.stop(1_000)
      throw err
    }
    return new ReplyWatch(proc, dsts, Date.now() + secs * 1000)
  }

  /** Each destination's first reply (epoch ms), or null if it gave none before the deadline. */
  async firstReplies(): Promise<Map<string, number | null>> {
    try {
      await this.proc.waitExit(Math.max(0, this.until - Date.now()) + 5_000)
    } finally {
      await this.proc.stop(1_000)
    }
    const first = new Map<string, number | null>(this.dsts.map((d) => [d, null]))
    for (const line of this.proc.logText().split('\n')) {
      const m = REPLY_FROM.exec(line)
      if (m === null || !first.has(m[2]!) || first.get(m[2]!) !== null) continue
      first.set(m[2]!, Number(m[1]) * 1000)
    }
    return first
  }
}

/** The wall-clock time (epoch ms) of the first echo reply from dst, once the route exists (ReplyWatch). */
export async function firstReplyAt(
  host: Host,
  dst: string,
  routeNetwork: string,
  deadlineMs: number,
): Promise<number | null> {
  const watch = await ReplyWatch.start(host, [dst], routeNetwork, deadlineMs, `route-wait-${dst}`)
  return (await watch.firstReplies()).get(dst) ?? null
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
