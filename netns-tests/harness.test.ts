// Self-tests of the netns harness (netns-tests/lib): before any end-to-end scenario trusts the lab, the lab itself
// must be shown to do what it claims: hosts on a bridge reach each other, delay and loss have the size asked
// for, a cut is total and a restore undoes it, NAT routers behave like home routers, process deaths are seen,
// and cleanup leaves nothing behind even when a test body throws. Needs root; under CI=true without root the
// suite fails instead of skipping, so a misconfigured CI cannot pass by running nothing.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import test from 'node:test'
import { execCommand, pidAlive } from './lib/exec.js'
import {
  canPing,
  type Host,
  isHarnessError,
  LAB_V4_RANGE,
  Lab,
  type PingStats,
  percentile,
  ping,
  sweepStale,
  tcpConnect,
  tcpListen,
  waitFor,
} from './lib/index.js'
import { MAX_IFNAME, makeRunId } from './lib/names.js'
import { repoPaths, serviceEnv } from './lib/repo.js'

const isRoot = process.getuid?.() === 0

if (!isRoot) {
  if (process.env.CI === 'true') {
    test('netns harness', () => assert.fail('CI=true but not running as root: the netns tests cannot run'))
  } else {
    test('netns harness', { skip: 'not root: netns tests need root (sudo, or CI)' }, () => {})
  }
} else {
  registerTests()
}

/** Interface byte counters, to see on which side of a one-way cut packets stop. */
async function rxPackets(host: Host, ifname: string): Promise<number> {
  const r = await host.exec(['ip', '-s', '-j', 'link', 'show', 'dev', ifname])
  const [info] = JSON.parse(r.stdout) as Array<{ stats64: { rx: { packets: number } } }>
  return info!.stats64.rx.packets
}

function registerTests(): void {
  test('two hosts on a bridge ping each other over IPv4 and IPv6', async (t) => {
    const lab = await Lab.create(t)
    const a = await lab.host('a')
    const b = await lab.host('b')
    const lan = await lab.bridge('lan')
    await lab.attach(a, lan)
    await lab.attach(b, lan)

    assert.equal(a.addr(lan), '10.231.1.1')
    assert.equal(b.addr(lan), '10.231.1.2')
    assert.ok(await canPing(a, b.addr(lan)), 'a -> b (IPv4)')
    assert.ok(await canPing(b, a.addr(lan)), 'b -> a (IPv4)')
    assert.ok(await canPing(a, b.addr6(lan)), 'a -> b (IPv6)')

    // Names: prefixed, unique to this run, short enough for the kernel; nothing in the root namespace.
    for (const i of [...a.interfaces, ...b.interfaces]) {
      assert.ok(i.name.startsWith(lab.run.ifPrefix) && i.name.length <= MAX_IFNAME, i.name)
    }
    assert.ok(a.ns.startsWith(`brt-${process.pid}-`))
    const rootAddrs = await execCommand(['ip', '-o', 'addr', 'show'])
    assert.doesNotMatch(
      rootAddrs.stdout,
      /10\.231\.|fd62:7274:/,
      `root namespace must not hold ${LAB_V4_RANGE}`,
    )
    const rootLinks = await execCommand(['ip', '-o', 'link', 'show'])
    assert.ok(!rootLinks.stdout.includes(lab.run.ifPrefix), 'no lab interface in the root namespace')
    await assert.rejects(lab.host('a'), (e) => isHarnessError(e, 'DUPLICATE'))
  })

  test('a 20 ms link gives a 40 ms round trip, and the delay can be changed', async (t) => {
    const lab = await Lab.create(t)
    const a = await lab.host('a')
    const b = await lab.host('b')
    const link = await lab.link(a, b, { delayMs: 20 })
    // Bounds: the minimum can never be under the delay; the median (not the mean: one sample stalled by a loaded
    // machine moves the mean) must be close to it.
    const expectRtt = (s: PingStats, low: number, high: number, what: string) => {
      assert.ok(s.received > 0, `${what}: no replies\n${s.output}`)
      // The fastest reply shows the delay floor; a loaded machine only adds to the others, so the bounds apply
      // to the minimum (a median bound failed under load average 20 with the delay working correctly).
      const min = Math.min(...s.times)
      assert.ok(
        min >= low && min <= high,
        `${what}: want fastest reply in [${low}, ${high}] ms, got ${s.times.join(' ')}`,
      )
    }

    const slow = await ping(a, b.addr(link), { count: 10, intervalS: 0.05 })
    assert.equal(slow.received, 10, slow.output)
    expectRtt(slow, 39.5, 46, 'a->b at 20 ms')
    expectRtt(await ping(b, a.addr(link), { count: 5, intervalS: 0.05 }), 39.5, 46, 'b->a at 20 ms')
    const counters = await link.faults.holderIn(a.ns)!.stats(1)
    assert.ok((counters.get(0)?.packets ?? 0) >= 15, 'the packets went through nfqdelay')

    await link.setDelay(5)
    expectRtt(await ping(a, b.addr(link), { count: 10, intervalS: 0.05 }), 9.5, 16, 'after setDelay(5)')

    // Jitter: each direction uniform in 10..30 ms, so round trips spread over 20..60 ms around 40.
    await link.setDelay(20, { jitterMs: 10 })
    const jittery = await ping(a, b.addr(link), { count: 30, intervalS: 0.03 })
    assert.equal(jittery.times.length, 30, jittery.output)
    expectRtt(jittery, 19.5, 52, 'with jitter')
    const spread = percentile(jittery.times, 0.9)! - percentile(jittery.times, 0.1)!
    assert.ok(spread >= 8, `jitter spreads round trips (p90 - p10 = ${spread}): ${jittery.times.join(' ')}`)

    await link.setDelay(0)
    expectRtt(await ping(a, b.addr(link), { count: 5, intervalS: 0.05 }), 0, 5, 'without delay')

    // A bridge port is hooked on the host only (egress + ingress): the round trip still doubles.
    const lan = await lab.bridge('lan')
    const port = await lab.attach(a, lan)
    await lab.attach(b, lan)
    await port.setDelay(10)
    expectRtt(await ping(a, b.addr(lan), { count: 10, intervalS: 0.05 }), 19.5, 26, 'bridge port at 10 ms')
  })

  test('a cut stops all traffic without a carrier change, and restore brings it back', async (t) => {
    const lab = await Lab.create(t)
    const a = await lab.host('a')
    const b = await lab.host('b')
    const link = await lab.link(a, b)
    assert.ok(await canPing(a, b.addr(link)))

    await link.cut()
    const during = await ping(a, b.addr(link), { count: 3, intervalS: 0.1, timeoutS: 1 })
    assert.equal(during.received, 0, during.output)
    assert.equal((await ping(b, a.addr(link), { count: 2, intervalS: 0.1, timeoutS: 1 })).received, 0)
    const carrier = await a.execOk(['ip', '-o', 'link', 'show', 'dev', link.a.iface])
    assert.match(carrier.stdout, /LOWER_UP/, 'a cut is silent: the carrier stays up')

    await link.restore()
    await waitFor(() => canPing(a, b.addr(link)), {
      timeoutMs: 5_000,
      intervalMs: 100,
      what: 'ping after restore',
    })

    // One-way cut: b's requests reach a, a's replies never reach b.
    await link.cut({ from: a })
    const aRx = await rxPackets(a, link.a.iface)
    const bRx = await rxPackets(b, link.b.iface)
    assert.equal((await ping(b, a.addr(link), { count: 3, intervalS: 0.05, timeoutS: 1 })).received, 0)
    assert.ok((await rxPackets(a, link.a.iface)) >= aRx + 3, 'requests from b still arrive at a')
    assert.equal(await rxPackets(b, link.b.iface), bRx, 'nothing from a arrives at b')
    await link.restore()
    assert.ok(await canPing(b, a.addr(link)))
  })

  test('30 % loss per direction loses about half of the round trips', async (t) => {
    const lab = await Lab.create(t)
    const a = await lab.host('a')
    const b = await lab.host('b')
    const link = await lab.link(a, b, { lossPct: 30 })
    // Both directions at 30 %: a round trip survives with 0.7 * 0.7, so about 51 % are lost.
    const both = await ping(a, b.addr(link), { count: 200, intervalS: 0.01, timeoutS: 1 })
    assert.ok(both.lossPct >= 35 && both.lossPct <= 67, `round-trip loss ${both.lossPct} % (expected ~51 %)`)

    await link.setLoss(0)
    await link.setLoss(30, { from: a })
    const oneWay = await ping(a, b.addr(link), { count: 200, intervalS: 0.01, timeoutS: 1 })
    assert.ok(
      oneWay.lossPct >= 15 && oneWay.lossPct <= 45,
      `one-way loss ${oneWay.lossPct} % (expected ~30 %)`,
    )

    await link.setLoss(0, { from: a })
    const clean = await ping(a, b.addr(link), { count: 50, intervalS: 0.01, timeoutS: 1 })
    assert.equal(clean.lossPct, 0, clean.output)
  })

  test('NAT: a host behind a router reaches a public host, which cannot connect back', async (t) => {
    const lab = await Lab.create(t)
    const wan = await lab.bridge('wan')
    const pub = await lab.host('pub')
    await lab.attach(pub, wan)
    const nat = await lab.natRouter('r1', { wan })
    const c = await lab.host('c')
    await lab.behind(c, nat)

    assert.ok(await canPing(c, pub.addr(wan)), 'c reaches the public host through the NAT')
    const server = await tcpListen(pub, pub.addr(wan), 7000)
    const out = await tcpConnect(c, pub.addr(wan), 7000)
    assert.ok(out.ok, `c -> pub: ${out.error}`)
    assert.equal(out.localAddress, c.addr(nat.lan))
    assert.deepEqual(
      server.accepted().map((x) => x.address),
      [nat.wanAddr],
      'the public host sees the router, not the private address',
    )

    await tcpListen(c, '0.0.0.0', 7001)
    // Unsolicited inbound is dropped at the router (a timeout, not a refusal from a closed port)...
    const inbound = await tcpConnect(pub, nat.wanAddr, 7001, { timeoutMs: 1_000 })
    assert.equal(inbound.ok, false)
    assert.equal(inbound.error, 'ETIMEDOUT')
    // ...and the private address is not reachable from outside at all.
    assert.equal((await tcpConnect(pub, c.addr(nat.lan), 7001, { timeoutMs: 1_000 })).ok, false)

    // A symmetric NAT (--random-fully) maps one source port to different public ports per destination; the
    // default NAT keeps it (endpoint-independent mapping), which is what hole punching relies on.
    const server2 = await tcpListen(pub, pub.addr(wan), 7002)
    const hard = await lab.natRouter('r2', { wan, symmetric: true })
    const d = await lab.host('d')
    await lab.behind(d, hard)
    for (const [host, router, expectSame] of [
      [c, nat, true],
      [d, hard, false],
    ] as const) {
      assert.ok((await tcpConnect(host, pub.addr(wan), 7000, { localPort: 40_000 })).ok)
      assert.ok((await tcpConnect(host, pub.addr(wan), 7002, { localPort: 40_000 })).ok)
      const lastPort = (l: typeof server) =>
        l
          .accepted()
          .filter((x) => x.address === router.wanAddr)
          .at(-1)?.port
      const p1 = lastPort(server)
      const p2 = lastPort(server2)
      assert.ok(p1 && p2, `both connections from ${host.name} seen as ${router.wanAddr}`)
      assert.equal(p1 === p2, expectSame, `${router.name} mapped :40000 to ${p1} and ${p2}`)
    }
  })

  test('a SIGKILLed process is reported as dead, and stop() escalates to SIGKILL', async (t) => {
    const lab = await Lab.create(t)
    const a = await lab.host('a')
    const p = a.spawn(['sleep', '600'], { logName: 'sleeper' })
    assert.ok(p.alive && pidAlive(p.pid))
    await p.kill('SIGKILL')
    assert.equal(p.alive, false)
    assert.equal(p.exitStatus?.signal, 'SIGKILL')
    assert.equal(pidAlive(p.pid), false)

    const stubborn = a.spawn(['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.1; done'], {
      logName: 'stubborn',
    })
    await stubborn.waitForLog('ready', 5_000)
    const t0 = performance.now()
    const how = await stubborn.stop(500)
    assert.equal(how.signal, 'SIGKILL')
    assert.ok(performance.now() - t0 < 5_000)

    const clean = a.spawn(['sleep', '600'], { logName: 'polite' })
    assert.equal((await clean.stop()).signal, 'SIGTERM')
  })

  test('a held process runs with the service environment only, started by a shell that reads no startup files', async (t) => {
    const lab = await Lab.create(t)
    const a = await lab.host('a')
    // Set here, so the check does not depend on what the machine's environment holds.
    process.env.BRT_HARNESS_LEAK = 'from the test process'
    process.env.BLACKROAD_HARNESS_SWITCH = 'kept'
    try {
      const env = serviceEnv(repoPaths.cliMain(), { EXTRA: 'given' })
      assert.equal(env.BRT_HARNESS_LEAK, undefined)
      const held = a.spawnHeld(['env'], { logName: 'env', env, envOnly: true })
      held.release()
      await held.proc.waitExit(10_000)
      const seen = new Map(
        held.proc
          .logText()
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
      )
      assert.equal(
        seen.get('BRT_HARNESS_LEAK'),
        undefined,
        'a variable of the test process reached the child',
      )
      assert.equal(seen.get('BLACKROAD_HARNESS_SWITCH'), 'kept')
      assert.equal(seen.get('EXTRA'), 'given')
      // The command's shebang variables (MALLOC_ARENA_MAX=1) come with it.
      assert.equal(seen.get('MALLOC_ARENA_MAX'), env.MALLOC_ARENA_MAX)
      // A shell that ran startup files (bash on a socket stdin runs ~/.bashrc) would have changed PATH here.
      assert.equal(seen.get('PATH'), process.env.PATH)
    } finally {
      delete process.env.BRT_HARNESS_LEAK
      delete process.env.BLACKROAD_HARNESS_SWITCH
    }
  })

  test('cleanup removes everything, also when the test body throws', async () => {
    let seen: { lab: Lab; pids: number[]; namespaces: string[]; socket: string } | undefined
    await assert.rejects(
      Lab.run(
        async (lab) => {
          const a = await lab.host('a')
          const b = await lab.host('b')
          const lan = await lab.bridge('lan')
          await lab.attach(a, lan)
          await lab.attach(b, lan)
          const link = await lab.link(a, b, { delayMs: 5 }) // an nfqdelay process
          const sleeper = a.spawn(['sleep', '600'])
          // A stray started inside the namespace but not through the harness (like a daemonized wireguard-go).
          await b.execOk(['sh', '-c', 'setsid sleep 600 >/dev/null 2>&1 < /dev/null &'])
          // What a killed wireguard-go leaves: a UAPI socket named after an interface of this run.
          mkdirSync('/var/run/wireguard', { recursive: true })
          const socket = `/var/run/wireguard/${lab.ifName('w')}.sock`
          writeFileSync(socket, '')
          seen = {
            lab,
            pids: [sleeper.pid, link.faults.holderIn(a.ns)!.pid],
            namespaces: [a.ns, b.ns, lan.ns],
            socket,
          }
          throw new Error('deliberate failure inside a lab')
        },
        { name: 'throwing-body' },
      ),
      /deliberate failure inside a lab/,
    )
    assert.ok(seen)
    assert.ok(seen.lab.closed)
    await seen.lab.assertClean()
    for (const pid of seen.pids) assert.equal(pidAlive(pid), false, `pid ${pid} stopped`)
    const nsList = (await execCommand(['ip', 'netns', 'list'])).stdout
    for (const ns of seen.namespaces) assert.ok(!nsList.includes(ns), `${ns} deleted`)
    assert.equal(existsSync(seen.socket), false, 'WireGuard socket of the run removed')
    assert.ok(existsSync(path.join(seen.lab.log.dir, 'lab.log')), 'logs kept after a failure')
    rmSync(seen.lab.log.dir, { recursive: true, force: true })

    // A passing lab removes its logs.
    const dir = await Lab.run(async (lab) => {
      await lab.host('x')
      return lab.log.dir
    })
    assert.equal(existsSync(dir), false)
  })

  test('sweepStale removes leftovers of a dead run and nothing of a live one', async (t) => {
    const live = await Lab.create(t)
    const mine = await live.host('keep')
    const dead = spawnSync('true').pid! // a pid that has just exited
    assert.equal(pidAlive(dead), false)
    const stale = makeRunId(dead, 0)
    const ns = `${stale.nsPrefix}old`
    await execCommand(['ip', 'netns', 'add', ns], { check: true })
    mkdirSync('/var/run/wireguard', { recursive: true })
    const socket = `/var/run/wireguard/${stale.ifPrefix}w0.sock`
    writeFileSync(socket, '')
    const scratch = path.join(os.tmpdir(), `brt-${stale.text}`)
    mkdirSync(scratch, { recursive: true })

    const report = await sweepStale()
    assert.ok(report.namespaces.includes(ns), JSON.stringify(report))
    assert.equal(existsSync(socket), false)
    assert.equal(existsSync(scratch), false)
    const nsList = (await execCommand(['ip', 'netns', 'list'])).stdout
    assert.ok(!nsList.includes(ns))
    assert.ok(nsList.includes(mine.ns), 'the live lab is untouched')
  })
}
