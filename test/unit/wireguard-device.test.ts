// WireGuardDevice against a fake OS: a small in-memory model of one WireGuard interface that answers `wg` and
// `ip` the way the real tools do. Checks the device's contract: idempotent reconfigure, one `wg set` per change,
// secrets never on argv, cleanup on failure and on down(), forwarding restored, state re-applied after a restart.

import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { beforeEach, describe, test } from 'node:test'
import { type Exec, ExecError, type RunOptions, type RunResult } from '../../src/os/exec.js'
import type { CreateHooks, WireGuardBackend } from '../../src/wireguard/backend.js'
import { WireGuardDevice } from '../../src/wireguard/device.js'
import { WireGuardError } from '../../src/wireguard/errors.js'
import { generatePrivateKey, publicKeyOf } from '../../src/wireguard/keys.js'

interface Peer {
  endpoint: string | null
  allowedIps: string[]
  keepalive: number
  psk: string | null
}

/** Just enough of wg/ip/sysctl semantics for the device; unknown commands fail loudly. */
class FakeOs {
  links = new Set<string>()
  priv: string | null = null
  port = 0
  peers = new Map<string, Peer>()
  routes = new Set<string>()
  addresses: string[] = []
  sysctl = new Map([
    ['net.ipv4.ip_forward', '0'],
    ['net.ipv6.conf.all.forwarding', '1'],
  ])
  calls: string[] = []
  secretsSeen: { mode: number; content: string }[] = []
  failOn: RegExp | undefined

  readonly exec: Exec = {
    run: (cmd, args, options) => this.run(cmd, [...args], options),
    spawn: () => {
      throw new Error('spawn not expected')
    },
  }

  wipe(): void {
    this.priv = null
    this.port = 0
    this.peers.clear()
    this.routes.clear()
    this.addresses = []
  }

  private async run(cmd: string, args: string[], o?: RunOptions): Promise<RunResult> {
    const line = [cmd, ...args].join(' ')
    this.calls.push(line)
    const ok = (stdout = ''): RunResult => ({ stdout, stderr: '', code: 0 })
    if (this.failOn?.test(line))
      throw new ExecError('EXEC_FAILED', line, { stderr: 'injected failure', exitCode: 1 })
    // `ip -batch -`: each stdin line is one ip command, run in order, stopping at the first failure.
    if (cmd === 'ip' && args[0] === '-batch') {
      for (const l of String(o?.input ?? '').split('\n')) if (l !== '') await this.run('ip', l.split(' '))
      return ok()
    }
    if (cmd === 'ip' && args[0] === 'link') {
      const name = args[3] as string
      if (args[1] === 'show')
        return this.links.has(name)
          ? ok()
          : { stdout: '', stderr: `Device "${name}" does not exist.\n`, code: 1 }
      if (args[1] === 'del') {
        if (!this.links.delete(name)) return { stdout: '', stderr: 'Cannot find device', code: 1 }
        this.wipe()
        return ok()
      }
      if (args[1] === 'add') {
        this.links.add(name)
        return ok()
      }
      if (args[1] === 'set') return ok()
    }
    if (cmd === 'ip' && args[0] === 'address') {
      this.addresses.push(args[2] as string)
      return ok()
    }
    if (cmd === 'ip' && args[0] === '-j') {
      const v6 = args[1] === '-6'
      const list = [...this.routes]
        .filter((r) => r.includes(':') === v6)
        .map((r) => ({ dst: r.replace(/\/(32|128)$/, '') }))
      return ok(JSON.stringify(list))
    }
    if (cmd === 'ip' && args[0] === 'route') {
      if (args[1] === 'replace') this.routes.add(args[2] as string)
      else this.routes.delete(args[2] as string)
      return ok()
    }
    if (cmd === 'wg' && args[0] === 'show') return ok(this.dump())
    if (cmd === 'wg' && args[0] === 'set') {
      await this.wgSet(args.slice(2))
      return ok()
    }
    if (cmd === 'sysctl' && args[0] === '-n')
      return ok(
        args
          .slice(1)
          .map((k) => `${this.sysctl.get(k)}\n`)
          .join(''),
      )
    if (cmd === 'sysctl' && args[0] === '-q') {
      for (const a of args.slice(2)) {
        const [k, v] = a.split('=') as [string, string]
        this.sysctl.set(k, v)
      }
      return ok()
    }
    throw new Error(`FakeOs: unexpected command ${line}`)
  }

  private async secret(path: string): Promise<string> {
    if (path === '/dev/null') return ''
    this.secretsSeen.push({
      mode: statSync(path).mode & 0o777,
      content: (await readFile(path, 'utf8')).trim(),
    })
    return this.secretsSeen[this.secretsSeen.length - 1]?.content as string
  }

  private async wgSet(a: string[]): Promise<void> {
    let peer: Peer | undefined
    for (let i = 0; i < a.length; i++) {
      const v = a[i + 1] as string
      switch (a[i]) {
        case 'private-key':
          this.priv = await this.secret(v)
          i++
          break
        case 'listen-port':
          this.port = Number(v)
          i++
          break
        case 'peer':
          peer = this.peers.get(v) ?? { endpoint: null, allowedIps: [], keepalive: 0, psk: null }
          this.peers.set(v, peer)
          i++
          break
        case 'remove':
          for (const [k, p] of this.peers) if (p === peer) this.peers.delete(k)
          break
        case 'endpoint':
          ;(peer as Peer).endpoint = v
          i++
          break
        case 'persistent-keepalive':
          ;(peer as Peer).keepalive = v === 'off' ? 0 : Number(v)
          i++
          break
        case 'preshared-key':
          ;(peer as Peer).psk = (await this.secret(v)) || null
          i++
          break
        case 'allowed-ips': {
          const ips = v === '' ? [] : v.split(',')
          // Like WireGuard: a prefix belongs to one peer; assigning it moves it.
          for (const p of this.peers.values()) p.allowedIps = p.allowedIps.filter((x) => !ips.includes(x))
          ;(peer as Peer).allowedIps = ips
          i++
          break
        }
        default:
          throw new Error(`FakeOs: wg set ${a[i]}`)
      }
    }
  }

  private dump(): string {
    const head = [
      this.priv ?? '(none)',
      this.priv ? publicKeyOf(this.priv) : '(none)',
      String(this.port),
      'off',
    ].join('\t')
    const rows = [...this.peers].map(([k, p]) =>
      [
        k,
        p.psk ?? '(none)',
        p.endpoint ?? '(none)',
        p.allowedIps.join(',') || '(none)',
        '1700000000',
        '10',
        '20',
        p.keepalive || 'off',
      ].join('\t'),
    )
    return `${[head, ...rows].join('\n')}\n`
  }
}

const priv = generatePrivateKey()
const [K1, K2] = [publicKeyOf(generatePrivateKey()), publicKeyOf(generatePrivateKey())] as [string, string]
const upConfig = {
  name: 'brwt0',
  privateKey: priv,
  listenPort: 51820,
  mtu: 1420,
  addresses: ['100.64.0.5/32', 'fd00::5/128'],
}
const desiredA = {
  privateKey: priv,
  listenPort: 51820,
  peers: [
    {
      publicKey: K1,
      endpoint: '10.0.0.1:51820',
      allowedIps: ['100.64.0.1/32', 'fd00::1/128'],
      persistentKeepalive: 25,
    },
  ],
  routes: ['100.64.0.1/32', 'fd00::1/128'],
}

let os: FakeOs
let dev: WireGuardDevice
beforeEach(() => {
  os = new FakeOs()
  dev = new WireGuardDevice({ exec: os.exec, backend: 'kernel' })
})

const mutating = (calls: string[]) =>
  calls.filter((c) => /^wg set|^ip (route (replace|del)|address|link (add|del|set))/.test(c))

describe('up', () => {
  test('removes a stale link, creates, sets key via a 0600 file, addresses, MTU, up', async () => {
    os.links.add('brwt0')
    await dev.up(upConfig)
    assert.deepEqual(os.calls.slice(0, 2), ['ip link del dev brwt0', 'ip link add dev brwt0 type wireguard'])
    assert.equal(os.priv, priv.toString('base64'))
    assert.deepEqual(os.secretsSeen, [{ mode: 0o600, content: priv.toString('base64') }])
    assert.ok(!os.calls.some((c) => c.includes(priv.toString('base64'))), 'private key on argv')
    assert.deepEqual(os.addresses, ['100.64.0.5/32', 'fd00::5/128'])
    assert.ok(os.calls.includes('ip link set dev brwt0 mtu 1420 up'))
    assert.equal(dev.publicKey, publicKeyOf(priv))
    const keyFile = os.calls.find((c) => c.startsWith('wg set'))?.split(' ')[3] as string
    assert.throws(() => statSync(keyFile), 'key file removed after use')
  })

  test('addresses, MTU, link up and the first routes go to one ip process, routes after the link is up', async () => {
    await dev.up({ ...upConfig, routes: ['100.64.0.0/10'] })
    const batches = os.calls.filter((c) => c === 'ip -batch -')
    assert.equal(batches.length, 1)
    const after = os.calls.slice(os.calls.indexOf('ip -batch -') + 1)
    assert.deepEqual(after, [
      'ip address replace 100.64.0.5/32 dev brwt0',
      'ip address replace fd00::5/128 dev brwt0 nodad',
      'ip link set dev brwt0 mtu 1420 up',
      'ip route replace 100.64.0.0/10 dev brwt0 proto 98',
    ])
    assert.deepEqual([...os.routes], ['100.64.0.0/10'])
  })

  test('invalid input is rejected before anything runs', async () => {
    for (const bad of [
      { name: 'this-name-is-too-long' },
      { name: 'a b' },
      { mtu: 100 },
      { privateKey: Buffer.alloc(5) },
      { addresses: ['x'] },
    ]) {
      await assert.rejects(
        new WireGuardDevice({ exec: os.exec, backend: 'kernel' }).up({ ...upConfig, ...bad }),
        { code: 'WG_CONFIG_INVALID' },
      )
    }
    assert.deepEqual(os.calls, [])
  })

  test('a failure half-way removes the link again', async () => {
    os.failOn = /^ip address/
    await assert.rejects(dev.up(upConfig), (e: unknown) => {
      assert.ok(e instanceof WireGuardError)
      assert.equal(e.code, 'WG_APPLY_FAILED')
      assert.ok(e.cause instanceof ExecError)
      return true
    })
    assert.equal(os.links.size, 0)
    os.failOn = undefined
    await dev.up(upConfig) // usable again
  })

  test('twice is WG_ALREADY_UP; reconfigure/stats before up are WG_NOT_UP', async () => {
    await assert.rejects(dev.reconfigure(desiredA), { code: 'WG_NOT_UP' })
    await assert.rejects(dev.stats(), { code: 'WG_NOT_UP' })
    await dev.up(upConfig)
    await assert.rejects(dev.up(upConfig), { code: 'WG_ALREADY_UP' })
  })
})

describe('reconfigure', () => {
  test('applies once, then reports no change and runs nothing that mutates', async () => {
    await dev.up(upConfig)
    const first = await dev.reconfigure(desiredA)
    assert.equal(first.changed, true)
    assert.equal(os.calls.filter((c) => c.startsWith('wg set')).length, 2, 'one wg set in up, one here')
    assert.deepEqual([...os.routes].sort(), ['100.64.0.1/32', 'fd00::1/128'])
    os.calls = []
    const second = await dev.reconfigure(desiredA)
    assert.deepEqual(second, { changed: false, actions: [] })
    assert.deepEqual(mutating(os.calls), [])
  })

  test('a rotated peer key moves to the new key in one wg set: add before remove', async () => {
    await dev.up(upConfig)
    await dev.reconfigure(desiredA)
    os.calls = []
    const rotated = { ...desiredA, peers: [{ ...desiredA.peers[0], publicKey: K2 }] } as typeof desiredA
    const r = await dev.reconfigure(rotated)
    const sets = os.calls.filter((c) => c.startsWith('wg set'))
    assert.equal(sets.length, 1)
    const set = sets[0] as string
    assert.ok(set.indexOf(`peer ${K2}`) < set.indexOf(`peer ${K1} remove`), set)
    assert.deepEqual([...os.peers.keys()], [K2])
    assert.deepEqual(os.peers.get(K2)?.allowedIps, ['100.64.0.1/32', 'fd00::1/128'])
    assert.equal(r.actions.length, 2)
    assert.deepEqual(mutating(os.calls).length, 1, 'routes untouched')
  })

  test('own key rotation keeps peers', async () => {
    await dev.up(upConfig)
    await dev.reconfigure(desiredA)
    const next = generatePrivateKey()
    const r = await dev.reconfigure({ ...desiredA, privateKey: next })
    assert.equal(r.actions.length, 1)
    assert.equal(os.priv, next.toString('base64'))
    assert.deepEqual([...os.peers.keys()], [K1])
    assert.equal(dev.publicKey, publicKeyOf(next))
  })

  test('routes we no longer want are removed', async () => {
    await dev.up({ ...upConfig, routes: ['10.77.0.0/16'] })
    assert.deepEqual([...os.routes], ['10.77.0.0/16'])
    await dev.reconfigure(desiredA)
    assert.deepEqual([...os.routes].sort(), ['100.64.0.1/32', 'fd00::1/128'])
  })

  test('routes it just set are not listed again; after a failed apply they are', async () => {
    await dev.up({ ...upConfig, routes: ['10.77.0.0/16'] })
    await dev.reconfigure(desiredA)
    await dev.reconfigure({ ...desiredA, routes: ['100.64.0.1/32'] })
    const listings = () => os.calls.filter((c) => c.startsWith('ip -j')).length
    assert.equal(listings(), 0)
    assert.deepEqual([...os.routes], ['100.64.0.1/32'])
    os.failOn = /^wg set/
    await assert.rejects(dev.reconfigure({ ...desiredA, peers: [] }))
    os.failOn = undefined
    os.routes.add('10.99.0.0/16') // say, a leftover only a listing shows
    await dev.reconfigure(desiredA)
    assert.equal(listings(), 2, 'one listing per family after the failure')
    assert.deepEqual([...os.routes].sort(), ['100.64.0.1/32', 'fd00::1/128'])
  })

  test('a failing wg set is WG_APPLY_FAILED with the command as cause', async () => {
    await dev.up(upConfig)
    os.failOn = /^wg set/
    await assert.rejects(dev.reconfigure(desiredA), (e: unknown) => {
      assert.ok(e instanceof WireGuardError && e.code === 'WG_APPLY_FAILED')
      assert.match(e.message, /wg set: .*injected failure/)
      return true
    })
  })

  test('invalid desired state is rejected without touching the interface', async () => {
    await dev.up(upConfig)
    os.calls = []
    await assert.rejects(dev.reconfigure({ ...desiredA, routes: ['300.0.0.0/8'] }), {
      code: 'WG_CONFIG_INVALID',
    })
    assert.deepEqual(os.calls, [])
  })
})

test('stats maps the dump, handshake in ms', async () => {
  await dev.up(upConfig)
  await dev.reconfigure(desiredA)
  assert.deepEqual(await dev.stats(), [
    {
      publicKey: K1,
      endpoint: '10.0.0.1:51820',
      latestHandshake: 1_700_000_000_000,
      rxBytes: 10,
      txBytes: 20,
      allowedIps: ['100.64.0.1/32', 'fd00::1/128'],
      persistentKeepalive: 25,
    },
  ])
})

test('down removes routes and link, restores only the forwarding it turned on; idempotent', async () => {
  await dev.up(upConfig)
  await dev.reconfigure(desiredA)
  await dev.enableForwarding()
  assert.equal(os.sysctl.get('net.ipv4.ip_forward'), '1')
  assert.ok(!os.calls.some((c) => c.includes('net.ipv6.conf.all.forwarding=')), 'ipv6 was already on')
  assert.equal(os.calls.filter((c) => c.startsWith('sysctl')).length, 2, 'one read, one write')
  await dev.down()
  assert.equal(os.links.size, 0)
  assert.equal(os.routes.size, 0)
  assert.equal(os.sysctl.get('net.ipv4.ip_forward'), '0')
  assert.equal(os.sysctl.get('net.ipv6.conf.all.forwarding'), '1')
  await dev.down()
  await dev.up(upConfig) // and it can come up again
})

test('down: routes go with the link; when removing the link fails, they are removed one by one', async () => {
  await dev.up(upConfig)
  await dev.reconfigure(desiredA)
  const before = os.calls.length
  await dev.down()
  assert.deepEqual(
    os.calls.slice(before).filter((c) => c.startsWith('ip route')),
    [],
    'a normal stop deletes the link and nothing else',
  )
  await dev.up(upConfig)
  await dev.reconfigure(desiredA)
  assert.ok(os.routes.size > 0)
  os.failOn = /^ip link del/
  await assert.rejects(dev.down(), (e: Error & { code?: string }) => e.code === 'WG_DOWN_INCOMPLETE')
  os.failOn = undefined
  assert.equal(os.routes.size, 0, 'the link stayed, our routes into it did not')
})

test('after the backend recreates the interface, everything is applied again', async () => {
  let hooks: CreateHooks | undefined
  const backend: WireGuardBackend = {
    kind: 'wireguard-go',
    pid: 4242,
    create: async (name, h) => {
      hooks = h
      os.links.add(name)
    },
    destroy: async (name) => {
      os.links.delete(name)
    },
  }
  const d = new WireGuardDevice({ exec: os.exec, backend })
  await d.up(upConfig)
  await d.reconfigure(desiredA)
  os.wipe() // what a wireguard-go crash does to the interface
  await hooks?.onRecreated()
  assert.equal(os.priv, priv.toString('base64'))
  assert.deepEqual([...os.peers.keys()], [K1])
  assert.deepEqual([...os.routes].sort(), ['100.64.0.1/32', 'fd00::1/128'])
  assert.deepEqual(os.addresses, ['100.64.0.5/32', 'fd00::5/128'])
  assert.equal((await d.reconfigure(desiredA)).changed, false)
  await d.down()
  await hooks?.onRecreated() // after down: ignored, no commands
  assert.equal(os.links.size, 0)
})
