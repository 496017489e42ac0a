// Busy polling after bursts (src/os/busy-poll.ts, native-bindings/src/busypoll.c): `auto` turns it on only in a
// virtual machine with more than one CPU and no CPU quota; the helper thread runs at SCHED_IDLE, spins only
// while a window is open, opens its window only for bursts that come less than the maximum apart, not for a
// saturated event loop nor for pipelined traffic (bursts of several messages), and parks (spins no more) once they stop; a burst's end
// opens the window through the turn's hook.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type ThreadInfo, threadsNamed } from '../../netns-tests/lib/procfs.js'
import {
  AUTO_BUSY_POLL_US,
  BUSY_POLL_THREAD,
  busyPollStats,
  chooseBusyPoll,
  type HostFacts,
  readHostFacts,
  startBusyPoll,
} from '../../src/os/busy-poll.js'
import { nativeAddon, nativeProblem } from '../../src/os/native.js'
import { beginBurst, burstItems, endBurst } from '../../src/os/turn.js'

const off = (process.env.BLACKROAD_NATIVE ?? '').toLowerCase() === 'off'

const x86Guest = 'processor\t: 0\nflags\t\t: fpu vme de pse tsc msr hypervisor lahf_lm\n'
const x86Metal = 'processor\t: 0\nflags\t\t: fpu vme de pse tsc msr lahf_lm\n'
const arm = 'processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n'
const facts = (f: Partial<HostFacts>): HostFacts => ({
  cpuinfo: x86Guest,
  sysVendor: '',
  cpuMax: [],
  cpus: 2,
  ...f,
})

test('busy_poll_us auto: on in a virtual machine, off on bare metal, on one CPU and under a CPU quota', () => {
  assert.equal(chooseBusyPoll('auto', facts({})).us, AUTO_BUSY_POLL_US, 'x86 guest (hypervisor flag)')
  assert.match(chooseBusyPoll('auto', facts({})).reason, /hypervisor/)
  assert.equal(
    chooseBusyPoll('auto', facts({ cpuinfo: arm, sysVendor: 'QEMU' })).us,
    AUTO_BUSY_POLL_US,
    'arm64 guest',
  )
  assert.equal(
    chooseBusyPoll('auto', facts({ cpuinfo: x86Metal, sysVendor: 'Dell Inc.' })).us,
    0,
    'x86 metal',
  )
  const pi = chooseBusyPoll('auto', facts({ cpuinfo: arm, sysVendor: '', cpus: 4 }))
  assert.deepEqual(pi, { us: 0, reason: 'off: not a virtual machine' }, 'a Raspberry Pi')
  assert.equal(chooseBusyPoll('auto', facts({ cpus: 1 })).us, 0, 'one CPU')
  const quota = chooseBusyPoll('auto', facts({ cpuMax: ['max 100000\n', '150000 100000\n'] }))
  assert.deepEqual(
    quota,
    { us: 0, reason: 'off: CPU quota (cpu.max 150000 100000)' },
    'a parent cgroup has a quota',
  )
  assert.equal(
    chooseBusyPoll('auto', facts({ cpuMax: ['max 100000\n', 'max 100000\n'] })).us,
    AUTO_BUSY_POLL_US,
  )
  // A number is used as given, anywhere.
  assert.equal(chooseBusyPoll(150, facts({ cpuinfo: x86Metal })).us, 150)
  assert.equal(chooseBusyPoll(0, facts({})).us, 0)
})

test('readHostFacts reads this host', () => {
  const f = readHostFacts()
  assert.ok(f.cpus >= 1)
  assert.match(f.cpuinfo, /^processor\s*:/m)
  for (const l of f.cpuMax) assert.match(l, /^(max|\d+) \d+\n?$/)
})

/** This process's busy-poll thread. */
function pollerThread(): ThreadInfo | undefined {
  return threadsNamed('self', BUSY_POLL_THREAD)[0]
}

/** Busy-waits `us` microseconds (the thread must not sleep: a sleep would be a gap). */
function spinFor(us: number): void {
  const end = process.hrtime.bigint() + BigInt(Math.round(us * 1000))
  while (process.hrtime.bigint() < end) {}
}

/** A read handler's burst with nothing in it: its end reaches the poller. */
function burst(): void {
  beginBurst()
  endBurst()
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('the busy-poll thread runs at SCHED_IDLE, spins only between bursts the loop waited for, then parks', {
  skip: off,
}, async () => {
  const addon = nativeAddon()
  assert.ok(addon !== null, `native addon not loaded: ${nativeProblem()}`)
  // A 5 ms maximum: the event loop's shortest wait on a timer is about 1 ms.
  const poller = startBusyPoll({ us: 5000, reason: 'test' })
  if (readHostFacts().cpus < 2) {
    assert.equal(poller.running, false)
    assert.match(poller.reason, /one CPU/)
    return
  }
  assert.equal(poller.running, true, poller.reason)
  try {
    const thread = pollerThread()
    assert.ok(thread !== undefined, 'a thread named br-busypoll')
    assert.equal(thread.policy, 5, 'SCHED_IDLE (5)')

    /** n bursts, each after the loop waited `ms` on a timer. */
    const waitedBursts = async (n: number, ms: number) => {
      for (let i = 0; i < n; i++) {
        await sleep(ms)
        burst()
      }
    }
    // Bursts 10 ms apart, beyond the maximum: the window never opens.
    const s0 = busyPollStats()
    await waitedBursts(20, 10)
    const s1 = busyPollStats()
    assert.equal(s1.calls - s0.calls, 20, 'every burst end reached the poller')
    assert.equal(s1.windowUs, 0)
    assert.equal(s1.spunSeconds, s0.spunSeconds, 'no spinning for sparse bursts')

    // Bursts about 1 ms apart, each waited for: the window grows past the gap and stays open, and the thread
    // spins through it (at idle priority: another test's process on the other CPU can starve it for a while,
    // so up to 10 rounds).
    let spun = 0
    let s2 = s1
    for (let round = 0; round < 10 && spun === 0; round++) {
      const before = busyPollStats()
      await waitedBursts(60, 1)
      s2 = busyPollStats()
      assert.ok(s2.windowUs >= 1000 && s2.windowUs <= 5000, `window ${s2.windowUs} µs`)
      assert.ok(s2.hits - before.hits >= 30, `bursts inside the window: ${s2.hits - before.hits} of 60`)
      spun = s2.spunSeconds - before.spunSeconds
    }
    assert.ok(spun > 0, 'the thread spun')

    // Bursts 100 µs apart with the loop never waiting (saturated): the window closes within the millisecond
    // over which saturation is judged.
    for (let i = 0; i < 30; i++) {
      burst()
      spinFor(100)
    }
    assert.equal(busyPollStats().windowUs, 0, 'a saturated loop gets no spinning')

    // Waited-for single messages again: the window opens again.
    await waitedBursts(20, 1)
    assert.ok(busyPollStats().windowUs >= 1000, `reopened: ${busyPollStats().windowUs} µs`)
    // The same gaps, but each burst carries several messages (a pipelined stream): it closes.
    for (let i = 0; i < 5; i++) {
      await sleep(1)
      beginBurst()
      burstItems(5)
      endBurst()
    }
    assert.equal(busyPollStats().windowUs, 0, 'pipelined traffic gets no spinning')

    // Bursts stopped: it parks. Its CPU time and spin time stay put.
    await sleep(20)
    const s3 = busyPollStats()
    const ticks3 = pollerThread()?.cpuTicks ?? Number.NaN
    await sleep(100)
    assert.equal(busyPollStats().spunSeconds, s3.spunSeconds, 'no spinning without bursts')
    const parked = pollerThread()
    assert.ok(
      parked !== undefined && parked.cpuTicks - ticks3 <= 1,
      'parked: at most one clock tick of CPU in 100 ms',
    )
    assert.equal(parked.state, 'S', 'sleeping')
  } finally {
    poller.stop()
  }
  // Stopped: burst ends no longer reach it.
  const calls = busyPollStats().calls
  burst()
  assert.equal(busyPollStats().calls, calls)
})
