// Busy polling after the bus hands a message on (config network.busy_poll_us; the thread itself is in
// native-bindings/src/busypoll.c).
//
// A request/reply round trip through two routers wakes six processes one after another (client, router A,
// router B, the responder, B, A, the client). When the CPU a process is woken on is halted, waking it costs an
// interrupt and, in a virtual machine, a VM exit and entry: on this 2-vCPU KVM guest that was about half of the
// round trip. Measured with `node dist/bench/main.js bus`: p50 ours 310-494 µs, NATS 304-492 µs; with two
// SCHED_IDLE busy loops keeping both vCPUs out of their idle state, ours 208 µs and NATS 238 µs. Go's runtime
// spins before it parks a thread, which is part of why NATS pays less for its wake-ups (and why its servers
// spend more CPU per round trip than ours did).
//
// So after each burst of input whose output went out (src/os/turn.ts endBurst), the router opens a window in
// which a helper thread at SCHED_IDLE spins. The window adapts to the gaps between bursts and stays open only
// where a message waits for a wake-up: it closes when traffic thins out (an idle daemon never spins), when the
// event loop is saturated (its next input is there when it looks) and for pipelined traffic (several messages
// per read: spinning under a one-way stream cost 5-14 % of its throughput here). The CPU time is real (the bench
// prints it with the daemons' CPU per round trip) but only what nothing else wanted: a SCHED_IDLE task is
// preempted by any task woken on its CPU.
// On by default only where it pays: in a virtual machine with more than one usable CPU and no CPU quota (a quota
// would charge the spinning to the daemon's own budget). On bare metal, a Raspberry Pi included, waking an idle
// core is cheap and spinning would cost power for little.

import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { getSystemErrorName } from 'node:util'
import { nativeAddon, nativeProblem } from './native.js'
import { setBurstEndHook } from './turn.js'

/** The window `auto` picks where busy polling pays: covers a round trip's gap at a router on this machine. */
export const AUTO_BUSY_POLL_US = 300

export type BusyPollSetting = 'auto' | number

/** What decides `auto`, read from the host (readHostFacts) or given by a test. */
export interface HostFacts {
  /** /proc/cpuinfo ('' when unreadable). */
  cpuinfo: string
  /** /sys/class/dmi/id/sys_vendor, trimmed ('' when absent). */
  sysVendor: string
  /**
   * CPU quotas of this process's cgroup and of each parent, innermost first, as cgroup v2's cpu.max reads
   * ("max 100000": none); v1's cfs quota is given the same way. Empty without cgroups.
   */
  cpuMax: string[]
  /** CPUs this process may run on. */
  cpus: number
}

export interface BusyPollChoice {
  /** Maximum window in microseconds; 0 is off. */
  us: number
  /** Why, in a few words (logged at start). */
  reason: string
}

// Vendors of hypervisors' virtual firmware (DMI), for CPUs without the x86 hypervisor flag (arm64 guests).
const VM_VENDORS = /^(QEMU|KVM|VMware|innotek GmbH|Xen|Parallels|BHYVE)/i

/** Why this looks like a virtual machine, or null. */
function virtualMachine(facts: HostFacts): string | null {
  if (/^flags\s*:.*\bhypervisor\b/m.test(facts.cpuinfo)) return 'the CPU reports a hypervisor'
  if (VM_VENDORS.test(facts.sysVendor)) return `firmware vendor ${facts.sysVendor}`
  return null
}

/** The window for a setting on this host. */
export function chooseBusyPoll(setting: BusyPollSetting, facts: HostFacts): BusyPollChoice {
  if (setting !== 'auto')
    return { us: setting, reason: setting === 0 ? 'off (busy_poll_us: 0)' : 'busy_poll_us' }
  if (facts.cpus < 2) return { us: 0, reason: 'off: one CPU' }
  const quota = facts.cpuMax.map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('max'))
  if (quota !== undefined) return { us: 0, reason: `off: CPU quota (cpu.max ${quota})` }
  const vm = virtualMachine(facts)
  if (vm === null) return { us: 0, reason: 'off: not a virtual machine' }
  return { us: AUTO_BUSY_POLL_US, reason: `virtual machine (${vm})` }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

/** `read(d)` for each directory d from `dir` up to `root`, innermost first; empty results are skipped. */
function upTo(root: string, dir: string, read: (dir: string) => string): string[] {
  const out: string[] = []
  for (let i = 0; i < 64 && dir.startsWith(root); i++) {
    const v = read(dir)
    if (v !== '') out.push(v)
    if (dir === root) break
    dir = path.dirname(dir)
  }
  return out
}

/**
 * CPU quotas of this process's cgroup and its parents, as cgroup v2's cpu.max ("max 100000" or "quota period"):
 * from cpu.max in a v2 tree, or from cpu.cfs_quota_us / cpu.cfs_period_us under a v1 cpu controller.
 */
function cgroupCpuMax(): string[] {
  const out: string[] = []
  for (const line of readText('/proc/self/cgroup').split('\n')) {
    const [, controllers, rel] = /^\d+:([^:]*):(.*)$/.exec(line) ?? []
    if (controllers === undefined || rel === undefined) continue
    if (controllers === '') {
      const root = '/sys/fs/cgroup'
      out.push(...upTo(root, path.join(root, rel), (d) => readText(path.join(d, 'cpu.max'))))
    } else if (controllers.split(',').includes('cpu')) {
      const root = path.join('/sys/fs/cgroup', controllers)
      out.push(
        ...upTo(root, path.join(root, rel), (d) => {
          const quota = readText(path.join(d, 'cpu.cfs_quota_us')).trim()
          const period = readText(path.join(d, 'cpu.cfs_period_us')).trim()
          if (quota === '' || period === '') return ''
          return `${quota === '-1' ? 'max' : quota} ${period}\n`
        }),
      )
    }
  }
  return out
}

export function readHostFacts(): HostFacts {
  return {
    cpuinfo: readText('/proc/cpuinfo'),
    sysVendor: readText('/sys/class/dmi/id/sys_vendor').trim(),
    cpuMax: cgroupCpuMax(),
    cpus: os.availableParallelism(),
  }
}

/** The helper thread's name (in `top -H`, /proc/<pid>/task/<tid>/comm). */
export const BUSY_POLL_THREAD = 'br-busypoll'

export interface BusyPollStats {
  /** Bursts that reached the poller while it was on. */
  calls: number
  /** Of those, bursts that came while the window was open. */
  hits: number
  /** CPU time the helper thread has spent spinning, over its life. */
  spunSeconds: number
  /** The current window. */
  windowUs: number
}

/** This process's busy polling (the thread is one per process): all zero without the addon. */
export function busyPollStats(): BusyPollStats {
  const [calls = 0, hits = 0, ns = 0, windowNs = 0] = nativeAddon()?.busyPollStats?.() ?? []
  return { calls, hits, spunSeconds: ns / 1e9, windowUs: windowNs / 1000 }
}

export interface BusyPoller {
  /** Whether the helper thread runs (false: off, or it could not start; `reason` says which). */
  readonly running: boolean
  readonly us: number
  readonly reason: string
  /** Closes the window for good and unhooks from the bursts (the thread stays parked). */
  stop(): void
}

/** Starts busy polling as chosen; never throws (a missing addon or thread is a reason, not an error). */
export function startBusyPoll(choice: BusyPollChoice): BusyPoller {
  const off = (reason: string): BusyPoller => ({ running: false, us: 0, reason, stop: () => {} })
  if (choice.us === 0) return off(choice.reason)
  const addon = nativeAddon()
  if (addon === null) return off(`off: no native addon (${nativeProblem()})`)
  const { busyPollStart: setMax, busyPoll } = addon
  if (setMax === undefined || busyPoll === undefined)
    return off('off: the native addon predates busy polling')
  const err = setMax(choice.us)
  if (err === -1) return off('off: one CPU usable')
  if (err === -2) return off('off: no libuv loop to read idle time from')
  if (err !== 0) return off(`off: its thread did not start (${getSystemErrorName(-err)})`)
  setBurstEndHook(busyPoll)
  return {
    running: true,
    us: choice.us,
    reason: choice.reason,
    stop: () => {
      setBurstEndHook(null)
      setMax(0)
    },
  }
}
