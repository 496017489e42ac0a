// The daemon and systemd's notify protocol, for real: this test plays systemd's part with a Unix datagram socket
// (bound through the native addon, since Node has none), starts a standalone daemon with NOTIFY_SOCKET and
// WATCHDOG_USEC pointing at it, and checks READY=1 comes once the API answers, WATCHDOG=1 keeps coming, and
// STOPPING=1 comes on SIGTERM. With the addon turned off the daemon still serves, says why once, and sends nothing.

import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { nativeAddon, nativeProblem } from '../../src/os/native.js'
import { SystemdNotifier } from '../../src/os/sd-notify.js'
import { cliArgv, collect, runCli } from '../helpers/cli.js'

const addon = nativeAddon()
const off = (process.env.BLACKROAD_NATIVE ?? '').toLowerCase() === 'off'

/** The addon is what this file tests: missing, it fails (unless turned off on purpose, then it is skipped). */
function requireAddon(t: { skip(msg: string): void }): NonNullable<typeof addon> | null {
  if (addon !== null) return addon
  if (off) {
    t.skip('BLACKROAD_NATIVE=off')
    return null
  }
  assert.fail(`native addon not loaded: ${nativeProblem()}`)
}

/** Datagrams received on `fd` until `until` matches one (returned last) or `ms` pass. */
async function receive(fd: number, ms: number, until?: (msg: string) => boolean): Promise<string[]> {
  const got: string[] = []
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    for (let i = 0; i < 100; i++) {
      const m = addon!.notifyRecv(fd)
      if (m === null) break
      got.push(m)
      if (until?.(m)) return got
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  return got
}

const lines = (msgs: string[]): string[] => msgs.flatMap((m) => m.split('\n'))

function configYaml(dir: string): string {
  const dns = `127.0.${1 + Math.floor(Math.random() * 250)}.${2 + Math.floor(Math.random() * 250)}`
  return [
    'node:',
    '  name: notify-node',
    `  state_dir: ${dir}/state`,
    'cluster:',
    '  name: us-west',
    '  region: us-west-2',
    'api:',
    `  socket: ${dir}/run/blackroad.sock`,
    'metrics:',
    '  enabled: false',
    'dns:',
    `  listen: ['${dns}:53']`,
    'logging:',
    '  level: info',
    '  format: json',
  ].join('\n')
}

async function startDaemon(dir: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  await fs.writeFile(path.join(dir, 'config.yaml'), configYaml(dir))
  return spawn(process.execPath, cliArgv(['daemon', '--config', path.join(dir, 'config.yaml')]), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
}

describe('sd_notify through the native addon', () => {
  test('a datagram reaches a path socket and an abstract one; a missing socket is an errno', (t) => {
    const a = requireAddon(t)
    if (a === null) return
    const dir = path.join(os.tmpdir(), `brn-${process.pid}-${Date.now()}`)
    const file = `${dir}.sock`
    const abstract = `@blackroad-test-${process.pid}-${Date.now()}`
    const fds = [a.notifyListen(file), a.notifyListen(abstract)]
    try {
      assert.equal(a.sdNotify(file, 'READY=1\nSTATUS=path'), 0)
      assert.equal(a.sdNotify(abstract, 'STATUS=abstract'), 0)
      assert.equal(a.notifyRecv(fds[0]!), 'READY=1\nSTATUS=path')
      assert.equal(a.notifyRecv(fds[1]!), 'STATUS=abstract')
      assert.equal(a.notifyRecv(fds[0]!), null)
      assert.equal(a.sdNotify(`${dir}.missing`, 'READY=1'), 2) // ENOENT
      assert.equal(a.sdNotify('relative/path', 'READY=1'), 22) // EINVAL: systemd only sends / or @
    } finally {
      for (const fd of fds) a.closeFd(fd)
      void fs.rm(file, { force: true })
    }
  })
})

describe('SystemdNotifier', () => {
  const quiet = { warn: () => {} }

  test('watchdog pings come from the event loop: a blocked loop sends none', async (t) => {
    const a = requireAddon(t)
    if (a === null) return
    const sock = `@blackroad-wd-${process.pid}-${Date.now()}`
    const fd = a.notifyListen(sock)
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '100000' }
    const n = SystemdNotifier.fromEnv(quiet, env)
    try {
      // The variables are taken out of the environment, so processes we start do not inherit them.
      assert.deepEqual(env, {})
      n.ready('test')
      assert.ok(lines(await receive(fd, 1000, (m) => m.startsWith('READY=1'))).includes('READY=1'))
      const running = lines(await receive(fd, 400)).filter((l) => l === 'WATCHDOG=1').length
      assert.ok(running >= 3, `pings while the loop runs: ${running}`)
      const drain = (): string[] => {
        const got: string[] = []
        for (let m = a.notifyRecv(fd); m !== null && got.length < 100; m = a.notifyRecv(fd)) got.push(m)
        return got
      }
      drain() // what came up to now, with no turn of the loop between this and the stuck stretch
      const until = Date.now() + 400
      while (Date.now() < until) {} // a stuck loop, for 8 watchdog intervals
      assert.deepEqual(drain(), [])
      // And the pings resume once the loop runs again.
      assert.ok(lines(await receive(fd, 1000, (m) => m === 'WATCHDOG=1')).includes('WATCHDOG=1'))
    } finally {
      n.close()
      a.closeFd(fd)
    }
  })

  test('no watchdog when WATCHDOG_PID names another process; nothing at all without NOTIFY_SOCKET', async (t) => {
    const a = requireAddon(t)
    if (a === null) return
    const sock = `@blackroad-wdpid-${process.pid}-${Date.now()}`
    const fd = a.notifyListen(sock)
    const other = SystemdNotifier.fromEnv(quiet, {
      NOTIFY_SOCKET: sock,
      WATCHDOG_USEC: '100000',
      WATCHDOG_PID: String(process.pid + 1),
    })
    const none = SystemdNotifier.fromEnv(quiet, { WATCHDOG_USEC: '100000' })
    try {
      assert.equal(other.watchdogUsec, 0)
      other.ready('x')
      assert.equal(none.notify('READY=1'), false)
      none.ready('x')
      const got = await receive(fd, 400)
      assert.equal(got.length, 1, JSON.stringify(got))
      assert.ok(got[0]!.startsWith('READY=1\nSTATUS=x'))
    } finally {
      other.close()
      none.close()
      a.closeFd(fd)
    }
  })
})

test('SystemdNotifier: a long STATUS is cut, a socket path too long for sockaddr_un is a warning, not a throw', async (t) => {
  const a = requireAddon(t)
  if (a === null) return
  const sock = `@blackroad-long-${process.pid}-${Date.now()}`
  const fd = a.notifyListen(sock)
  const warnings: string[] = []
  const log = { warn: (_: object, msg: string) => void warnings.push(msg) }
  try {
    const n = SystemdNotifier.fromEnv(log, { NOTIFY_SOCKET: sock })
    assert.equal(n.notify(`STATUS=${'x'.repeat(10_000)}`), true)
    const [got] = await receive(fd, 1000, () => true)
    assert.equal(got, `STATUS=${'x'.repeat(993)}`)
    const far = SystemdNotifier.fromEnv(log, { NOTIFY_SOCKET: `/${'d'.repeat(200)}` })
    assert.equal(far.notify('READY=1'), false)
    assert.deepEqual(warnings, ['sd_notify failed'])
  } finally {
    a.closeFd(fd)
  }
})

describe('daemon under a notify socket', () => {
  let dir: string
  let fd = -1
  let daemon: ChildProcess | null = null

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'brnotify-'))
  })
  after(async () => {
    if (daemon !== null && daemon.exitCode === null) daemon.kill('SIGKILL')
    if (fd >= 0) addon?.closeFd(fd)
    await fs.rm(dir, { recursive: true, force: true })
  })

  test('READY=1 after the API answers, WATCHDOG=1 every WATCHDOG_USEC/2, STOPPING=1 on SIGTERM', async (t) => {
    const a = requireAddon(t)
    if (a === null) return
    const notifySock = path.join(dir, 'notify.sock')
    fd = a.notifyListen(notifySock)
    const sock = path.join(dir, 'run', 'blackroad.sock')
    daemon = await startDaemon(dir, { NOTIFY_SOCKET: notifySock, WATCHDOG_USEC: '200000' })
    const exited = collect(daemon, 60_000)

    const first = await receive(fd, 30_000, (m) => m.split('\n').includes('READY=1'))
    // At the moment READY=1 is read, the API socket must already be there and answering.
    const socketThere = existsSync(sock)
    assert.ok(lines(first).includes('READY=1'), `no READY=1; got ${JSON.stringify(first)}`)
    assert.ok(socketThere, 'READY=1 came before the API socket existed')
    assert.ok(
      lines(first).some((l) => l.startsWith('STATUS=serving node notify-node')),
      JSON.stringify(first),
    )
    assert.equal(first.filter((m) => m.includes('WATCHDOG=1')).length, 0, 'watchdog pings before READY=1')
    const status = await runCli(['status', '--json', '--socket', sock])
    assert.equal(status.code, 0, status.stderr)
    assert.equal(JSON.parse(status.stdout).pid, daemon.pid)

    // 200 ms watchdog -> a ping every 100 ms: over 1.5 s at least 5 even on a loaded machine, and no more than one
    // per 100 ms of the window (setInterval never catches up in bursts).
    // Pings that queued up while `status` ran are not part of the window.
    for (let m = a.notifyRecv(fd), i = 0; m !== null && i < 1000; m = a.notifyRecv(fd), i++) {}
    const t0 = Date.now()
    const pings = lines(await receive(fd, 1500)).filter((l) => l === 'WATCHDOG=1').length
    const ms = Date.now() - t0
    assert.ok(pings >= 5 && pings <= ms / 100 + 3, `WATCHDOG=1 pings in ${ms} ms: ${pings}`)

    daemon.kill('SIGTERM')
    const last = await receive(fd, 15_000, (m) => m.split('\n').includes('STOPPING=1'))
    assert.ok(lines(last).includes('STOPPING=1'), `no STOPPING=1; got ${JSON.stringify(last)}`)
    const r = await exited
    assert.equal(r.code, 0, r.stderr)
    // The same addon carries the mesh DNS server's UDP.
    assert.match(r.stdout, /"udp":"batched \(recvmmsg\/sendmmsg\)".*"msg":"mesh DNS listening"/)
    // Nothing after STOPPING=1: the watchdog stops with the shutdown.
    assert.deepEqual(await receive(fd, 300), [])
  })

  test('without the addon the daemon still serves and says once why systemd hears nothing', async () => {
    const sub = await fs.mkdtemp(path.join(dir, 'off-'))
    const notifySock = path.join(sub, 'notify.sock')
    const listen = addon !== null ? addon.notifyListen(notifySock) : -1
    const sock = path.join(sub, 'run', 'blackroad.sock')
    const child = await startDaemon(sub, {
      NOTIFY_SOCKET: notifySock,
      WATCHDOG_USEC: '200000',
      BLACKROAD_NATIVE: 'off',
    })
    const exited = collect(child, 60_000)
    try {
      const deadline = Date.now() + 30_000
      let status = await runCli(['status', '--json', '--socket', sock])
      while (status.code !== 0 && Date.now() < deadline && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 200))
        status = await runCli(['status', '--json', '--socket', sock])
      }
      assert.equal(status.code, 0, status.stderr)
      if (listen >= 0) assert.deepEqual(await receive(listen, 500), [])
      child.kill('SIGTERM')
      const r = await exited
      assert.equal(r.code, 0, r.stderr)
      const warnings = r.stdout.split('\n').filter((l) => l.includes('native addon is not loaded'))
      assert.equal(warnings.length, 1, r.stdout)
      assert.match(warnings[0]!, /BLACKROAD_NATIVE=off/)
      assert.match(r.stdout, /"udp":"dgram \(turned off with BLACKROAD_NATIVE=off\)"/)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
      if (listen >= 0) addon!.closeFd(listen)
    }
  })
})
