// The data plane for real: WireGuardDevice driving wireguard-go in network namespaces this file creates and
// deletes. Scenarios a user would recognise: two nodes ping over their mesh addresses; the same desired state
// twice changes nothing; a node rotates its key under a running ping; a relay carries A's traffic to C; down()
// leaves nothing; a KILLed wireguard-go comes back with its state. Needs root (CI=true without root fails).
// Uses small local helpers rather than netns-tests/lib, so it depends only on `ip`, `wg`, `wireguard-go`, `ping`.

import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { run, spawn } from '../src/os/exec.js'
import { detectBackend } from '../src/wireguard/backend.js'
import { WireGuardDevice } from '../src/wireguard/device.js'
import type { DesiredState } from '../src/wireguard/diff.js'
import { generatePrivateKey, publicKeyOf } from '../src/wireguard/keys.js'
import { type Log, silentLog } from '../src/wireguard/supervisor.js'
import { DEFAULT_RUN_DIR } from '../src/wireguard/wireguard-go.js'

const RUN = process.pid.toString(36)
const PORT = 51820
let ifCounter = 0
/** 'brw' + pid base36 + '-' + counter (the dash keeps one run's prefix from matching another's): unique on the machine (wireguard-go sockets are global), <= 15 characters. */
const ifName = (): string => {
  const name = `brw${RUN}-${(ifCounter++).toString(36)}`
  assert.ok(name.length <= 15, name)
  return name
}

const missing = (() => {
  if (process.getuid?.() !== 0) return 'not root: the WireGuard netns tests need root'
  for (const tool of ['ip', 'wg', 'wireguard-go', 'ping']) {
    if (!process.env.PATH?.split(':').some((d) => existsSync(`${d}/${tool}`)))
      return `${tool} is not installed`
  }
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing'
  return undefined
})()

/** Namespaces, devices and processes of one scenario; close() removes all of it, also after a failure. */
class Topo {
  readonly namespaces: string[] = []
  readonly devices: WireGuardDevice[] = []
  private readonly pids = new Set<number>()

  async ns(tag: string): Promise<string> {
    const name = `brw-${RUN}-${tag}`
    await run('ip', ['netns', 'del', name], { reject: false })
    await run('ip', ['netns', 'add', name])
    this.namespaces.push(name)
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
    return name
  }

  /** A veth between two namespaces with an IPv4 /24 on each end (the underlay). */
  async link(nsA: string, addrA: string, nsB: string, addrB: string): Promise<void> {
    const a = `brw${RUN}-v${this.namespaces.indexOf(nsA)}${this.namespaces.indexOf(nsB)}`
    const b = `${a}p`
    await run('ip', ['link', 'add', a, 'netns', nsA, 'type', 'veth', 'peer', 'name', b, 'netns', nsB])
    await run('ip', ['-n', nsA, 'addr', 'add', `${addrA}/24`, 'dev', a])
    await run('ip', ['-n', nsB, 'addr', 'add', `${addrB}/24`, 'dev', b])
    await run('ip', ['-n', nsA, 'link', 'set', a, 'up'])
    await run('ip', ['-n', nsB, 'link', 'set', b, 'up'])
  }

  /** `log` given: wireguard-go runs with its verbose log, which the supervisor hands to `log` at debug. */
  device(netns: string, log?: Log): WireGuardDevice {
    const d = new WireGuardDevice({
      netns,
      backend: 'wireguard-go',
      log: log ?? silentLog,
      wireguardGo: { backoff: { initialMs: 100, maxMs: 1_000 }, ...(log ? { logLevel: 'verbose' } : {}) },
    })
    this.devices.push(d)
    return d
  }

  /** Remember a wireguard-go pid so close() can kill it even if down() fails. */
  track(pid: number | undefined): void {
    if (pid !== undefined) this.pids.add(pid)
  }

  async close(): Promise<void> {
    for (const d of this.devices) {
      this.track(d.pid)
      await d.down().catch(() => {})
    }
    for (const ns of this.namespaces) {
      const r = await run('ip', ['netns', 'pids', ns], { reject: false })
      for (const pid of r.stdout.split('\n').filter(Boolean)) this.pids.add(Number(pid))
    }
    for (const pid of this.pids) {
      // Only processes we started: wireguard-go serving one of this run's interfaces.
      if (cmdline(pid).includes(`brw${RUN}-`)) process.kill(pid, 'SIGKILL')
    }
    for (const ns of this.namespaces) await run('ip', ['netns', 'del', ns], { reject: false })
    for (const f of existsSync(DEFAULT_RUN_DIR) ? readdirSync(DEFAULT_RUN_DIR) : []) {
      if (f.startsWith(`brw${RUN}-`)) rmSync(`${DEFAULT_RUN_DIR}/${f}`, { force: true })
    }
  }
}

/**
 * Leftovers of an earlier run of this file that was killed before its after() hooks ran: namespaces
 * brw-<pid36>-* whose pid is gone, the processes inside them (its wireguard-go), and its sockets.
 */
async function sweepStale(): Promise<void> {
  const list = await run('ip', ['netns', 'list'])
  for (const m of list.stdout.matchAll(/^brw-([0-9a-z]+)-[a-z]+/gm)) {
    const [ns, run36] = [m[0], m[1] as string]
    if (run36 === RUN || existsSync(`/proc/${Number.parseInt(run36, 36)}`)) continue
    const pids = await run('ip', ['netns', 'pids', ns], { reject: false })
    for (const pid of pids.stdout.split('\n').filter(Boolean)) {
      if (cmdline(Number(pid)).includes(`brw${run36}-`)) process.kill(Number(pid), 'SIGKILL')
    }
    await run('ip', ['netns', 'del', ns], { reject: false })
    for (const f of existsSync(DEFAULT_RUN_DIR) ? readdirSync(DEFAULT_RUN_DIR) : []) {
      if (f.startsWith(`brw${run36}-`)) rmSync(`${DEFAULT_RUN_DIR}/${f}`, { force: true })
    }
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
  } catch {
    return ''
  }
}

interface Node {
  ns: string
  dev: WireGuardDevice
  name: string
  key: Buffer
  underlay: string
  mesh4: string
  mesh6: string
}

async function node(topo: Topo, ns: string, i: number, underlay: string, log?: Log): Promise<Node> {
  const n: Node = {
    ns,
    dev: topo.device(ns, log),
    name: ifName(),
    key: generatePrivateKey(),
    underlay,
    mesh4: `100.64.77.${i}`,
    mesh6: `fd77::${i}`,
  }
  await n.dev.up({
    name: n.name,
    privateKey: n.key,
    listenPort: PORT,
    mtu: 1420,
    addresses: [`${n.mesh4}/32`, `${n.mesh6}/128`],
  })
  topo.track(n.dev.pid)
  return n
}

/** Desired state of `self` with direct peers; `via` adds extra prefixes reached through a peer (relaying). */
function desired(self: Node, peers: { node: Node; endpoint: string; via?: Node[] }[]): DesiredState {
  const addrs = (n: Node): string[] => [`${n.mesh4}/32`, `${n.mesh6}/128`]
  const all = peers.flatMap((p) => [...addrs(p.node), ...(p.via ?? []).flatMap(addrs)])
  return {
    privateKey: self.key,
    listenPort: PORT,
    peers: peers.map((p) => ({
      publicKey: publicKeyOf(p.node.key),
      endpoint: `${p.endpoint}:${PORT}`,
      allowedIps: [...addrs(p.node), ...(p.via ?? []).flatMap(addrs)],
    })),
    routes: all,
  }
}

async function pingOnce(ns: string, addr: string): Promise<boolean> {
  const r = await run('ping', ['-n', '-c', '1', '-W', '1', addr], {
    netns: ns,
    reject: false,
    timeoutMs: 3_000,
  })
  return r.code === 0
}

/** Pings until a reply or the deadline; returns ms to the first reply. */
async function pingUntil(ns: string, addr: string, deadlineMs = 10_000): Promise<number> {
  const t0 = Date.now()
  while (Date.now() - t0 < deadlineMs) {
    if (await pingOnce(ns, addr)) return Date.now() - t0
  }
  assert.fail(`${ns}: no reply from ${addr} within ${deadlineMs} ms`)
}

if (missing !== undefined) {
  if (process.env.CI === 'true')
    test('wireguard backend netns tests', () => assert.fail(`CI=true but ${missing}`))
  else test('wireguard backend netns tests', { skip: missing }, () => {})
} else {
  describe('two nodes over wireguard-go', { concurrency: false }, () => {
    const topo = new Topo()
    let a: Node
    let b: Node
    /** b's wireguard-go runs verbose (a daemon logging at debug does that): its lines, as logged. */
    const bDebug: string[] = []
    const bLog: Log = { ...silentLog, debug: (_fields, msg) => void bDebug.push(String(msg)) }
    before(async () => {
      await sweepStale()
      const nsA = await topo.ns('a')
      const nsB = await topo.ns('b')
      await topo.link(nsA, '192.168.77.1', nsB, '192.168.77.2')
      a = await node(topo, nsA, 1, '192.168.77.1')
      b = await node(topo, nsB, 2, '192.168.77.2', bLog)
    })
    after(() => topo.close())

    test('auto backend detection works here and leaves no probe link', async () => {
      const kind = await detectBackend({
        exec: { run, spawn: () => assert.fail('no spawn') },
        netns: a.ns,
        log: silentLog,
      })
      assert.ok(kind === 'kernel' || kind === 'wireguard-go')
      const links = await run('ip', ['-n', a.ns, '-o', 'link', 'show'])
      assert.doesNotMatch(links.stdout, /brprb/)
    })

    test('configured by reconfigure(), they ping over IPv4 and IPv6 mesh addresses', async (t) => {
      const ra = await a.dev.reconfigure(desired(a, [{ node: b, endpoint: b.underlay }]))
      const rb = await b.dev.reconfigure(desired(b, [{ node: a, endpoint: a.underlay }]))
      assert.ok(ra.changed && rb.changed)
      t.diagnostic(`first IPv4 reply after ${await pingUntil(a.ns, b.mesh4)} ms`)
      await pingUntil(a.ns, b.mesh6)
      await pingUntil(b.ns, a.mesh6)
      const [peer] = await a.dev.stats()
      assert.equal(peer?.publicKey, publicKeyOf(b.key))
      assert.ok((peer?.latestHandshake ?? 0) > Date.now() - 60_000, 'recent handshake')
      assert.ok((peer?.rxBytes ?? 0) > 0 && (peer?.txBytes ?? 0) > 0)
      // The handshake a's ping started, as b's verbose wireguard-go saw it (a's runs quiet: nothing logged).
      assert.ok(
        bDebug.some((l) => /Received handshake initiation/.test(l)),
        `b's debug log: ${bDebug.slice(-5).join(' | ')}`,
      )
    })

    test('the same desired state again reports no change', async () => {
      assert.deepEqual(await a.dev.reconfigure(desired(a, [{ node: b, endpoint: b.underlay }])), {
        changed: false,
        actions: [],
      })
      assert.deepEqual(await b.dev.reconfigure(desired(b, [{ node: a, endpoint: a.underlay }])), {
        changed: false,
        actions: [],
      })
    })

    test('private-key rotation under a running ping loop loses few packets', async (t) => {
      const count = 300
      const loop = run('ping', ['-n', '-q', '-i', '0.01', '-c', String(count), '-W', '1', b.mesh4], {
        netns: a.ns,
        reject: false,
        timeoutMs: 30_000,
      })
      await new Promise((r) => setTimeout(r, 800))
      const newKey = generatePrivateKey()
      const t0 = Date.now()
      // Recommended order: the peer learns the new key first, then the rotating node swaps its private key.
      const rotatedA: Node = { ...a, key: newKey }
      const rb = await b.dev.reconfigure(desired(b, [{ node: rotatedA, endpoint: a.underlay }]))
      const ra = await a.dev.reconfigure(desired(rotatedA, [{ node: b, endpoint: b.underlay }]))
      const swapMs = Date.now() - t0
      a.key = newKey
      assert.equal(ra.actions.length, 1, ra.actions.join('; ')) // only the key
      assert.equal(rb.actions.length, 2, rb.actions.join('; ')) // add new key, remove old
      const out = (await loop).stdout
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out)
      assert.ok(m, out)
      const lost = Number(m[1]) - Number(m[2])
      t.diagnostic(
        `rotation: ${lost} of ${m[1]} pings lost (10 ms interval), both reconfigures took ${swapMs} ms`,
      )
      assert.ok(lost < count / 4, `lost ${lost} pings`)
      assert.equal(a.dev.publicKey, publicKeyOf(newKey))
      assert.deepEqual(
        (await b.dev.stats()).map((p) => p.publicKey),
        [publicKeyOf(newKey)],
      )
      await pingUntil(b.ns, a.mesh6, 3_000)
    })

    test('a SIGKILLed wireguard-go is restarted by supervision with its state', async (t) => {
      const pid = a.dev.pid
      assert.ok(pid !== undefined)
      const socket = `${DEFAULT_RUN_DIR}/${a.name}.sock`
      const t0 = Date.now()
      process.kill(pid, 'SIGKILL')
      while (a.dev.pid === pid || a.dev.pid === undefined) {
        assert.ok(Date.now() - t0 < 10_000, 'no restart within 10 s')
        await new Promise((r) => setTimeout(r, 20))
      }
      topo.track(a.dev.pid)
      const ms = await pingUntil(a.ns, b.mesh4, 10_000)
      t.diagnostic(
        `restarted as pid ${a.dev.pid}; pings again ${Date.now() - t0} ms after the kill (${ms} ms after restart seen)`,
      )
      assert.ok(existsSync(socket))
      // The re-applied state equals the desired state: nothing left to change.
      assert.equal((await a.dev.reconfigure(desired(a, [{ node: b, endpoint: b.underlay }]))).changed, false)
    })

    test('down() removes the interface, the socket and the process', async () => {
      const pid = a.dev.pid
      await a.dev.down()
      const link = await run('ip', ['-n', a.ns, 'link', 'show', 'dev', a.name], { reject: false })
      assert.notEqual(link.code, 0, 'interface still exists')
      assert.ok(!existsSync(`${DEFAULT_RUN_DIR}/${a.name}.sock`), 'socket still exists')
      assert.ok(pid !== undefined && !cmdline(pid).includes(a.name), 'wireguard-go still running')
      assert.equal(a.dev.pid, undefined)
      assert.equal(await pingOnce(b.ns, a.mesh4), false)
    })

    test('up() after a daemon crash: takes over from an orphaned wireguard-go and a stale socket', async () => {
      const name = ifName()
      const socket = `${DEFAULT_RUN_DIR}/${name}.sock`
      const orphanUp = async () => {
        const p = spawn('wireguard-go', ['-f', name], { netns: a.ns, env: { WG_PROCESS_FOREGROUND: '1' } })
        topo.track(p.pid)
        for (let i = 0; i < 250 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20))
        assert.ok(existsSync(socket), 'orphan did not start')
        return p
      }
      const config = {
        name,
        privateKey: generatePrivateKey(),
        listenPort: PORT,
        mtu: 1420,
        addresses: ['100.64.77.9/32'],
      }
      // 1. The old daemon was KILLed; its wireguard-go still serves the interface.
      const orphan = await orphanUp()
      const d1 = topo.device(a.ns)
      await d1.up(config)
      topo.track(d1.pid)
      const exit = await Promise.race([
        orphan.exited,
        new Promise((r) => setTimeout(() => r('running'), 3_000)),
      ])
      assert.notEqual(exit, 'running', 'the orphaned wireguard-go should exit when its interface is removed')
      assert.notEqual(d1.pid, orphan.pid)
      await d1.down()
      // 2. wireguard-go itself was KILLed: no interface, but its socket is left behind.
      const killed = await orphanUp()
      killed.kill('SIGKILL')
      await killed.exited
      assert.ok(existsSync(socket), 'a KILLed wireguard-go leaves its socket')
      const d2 = topo.device(a.ns)
      await d2.up(config)
      topo.track(d2.pid)
      assert.equal(
        (await d2.reconfigure({ privateKey: config.privateKey, listenPort: PORT, peers: [], routes: [] }))
          .changed,
        false,
      )
      await d2.down()
      assert.ok(!existsSync(socket))
    })
  })

  describe('relay: A reaches C only through B', { concurrency: false }, () => {
    const topo = new Topo()
    let a: Node
    let b: Node
    let c: Node
    before(async () => {
      const [nsA, nsB, nsC] = [await topo.ns('ra'), await topo.ns('rb'), await topo.ns('rc')]
      await topo.link(nsA, '192.168.78.1', nsB, '192.168.78.2')
      await topo.link(nsB, '192.168.79.1', nsC, '192.168.79.2')
      a = await node(topo, nsA, 1, '192.168.78.1')
      b = await node(topo, nsB, 2, '192.168.78.2')
      c = await node(topo, nsC, 3, '192.168.79.2')
    })
    after(() => topo.close())

    test('C addresses in B’s allowed-ips on A, B forwards, A pings C over IPv4 and IPv6', async (t) => {
      assert.equal(await pingOnce(a.ns, c.underlay), false, 'A must have no underlay path to C')
      await b.dev.enableForwarding()
      await a.dev.reconfigure(desired(a, [{ node: b, endpoint: b.underlay, via: [c] }]))
      await b.dev.reconfigure(
        desired(b, [
          { node: a, endpoint: a.underlay },
          { node: c, endpoint: c.underlay },
        ]),
      )
      await c.dev.reconfigure(desired(c, [{ node: b, endpoint: '192.168.79.1', via: [a] }]))
      t.diagnostic(`A -> C via B: first reply after ${await pingUntil(a.ns, c.mesh4)} ms`)
      await pingUntil(a.ns, c.mesh6)
      const sysctl = await run('sysctl', ['-n', 'net.ipv4.ip_forward'], { netns: b.ns })
      assert.equal(sysctl.stdout.trim(), '1')
    })

    test('down() on the relay restores forwarding it turned on', async () => {
      await b.dev.down()
      const v4 = await run('sysctl', ['-n', 'net.ipv4.ip_forward'], { netns: b.ns })
      const v6 = await run('sysctl', ['-n', 'net.ipv6.conf.all.forwarding'], { netns: b.ns })
      assert.deepEqual([v4.stdout.trim(), v6.stdout.trim()], ['0', '0'])
      assert.equal(await pingOnce(a.ns, c.mesh4), false)
    })
  })
}
