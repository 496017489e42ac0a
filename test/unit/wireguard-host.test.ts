// The device's host questions answered from /proc and /sys (os/host.ts): the same sysctl values as
// `sysctl -n`, interfaces that exist and do not, and the kernel WireGuard verdict from a module tree (a
// temporary one, so the verdict does not depend on this machine's kernel). Nothing here writes to the host.

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { systemExec } from '../../src/os/exec.js'
import { commandHost, procHost } from '../../src/os/host.js'
import { detectBackend } from '../../src/wireguard/backend.js'

const KEYS = ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']

test('sysctls read from /proc/sys equal what sysctl -n prints', async () => {
  const fromProc = await procHost().readSysctls(KEYS)
  const fromTool = execFileSync('sysctl', ['-n', ...KEYS], { encoding: 'utf8' })
    .trim()
    .split('\n')
  assert.deepEqual(fromProc, fromTool)
  assert.deepEqual(await commandHost(systemExec).readSysctls(KEYS), fromTool)
  await assert.rejects(procHost().readSysctls(['net.ipv4.no_such_sysctl']))
})

test('interfaces: lo exists, a made-up name does not; through commands it is left to ip', async () => {
  const host = procHost()
  assert.equal(await host.interfaceExists('lo'), true)
  assert.equal(await host.interfaceExists('brnope0x9'), false)
  assert.equal(await commandHost(systemExec).interfaceExists('lo'), undefined)
})

test('kernel WireGuard from the module tree: built in, loadable, absent, or unknown', async (t) => {
  if (existsSync('/sys/module/wireguard')) {
    t.skip('the wireguard module is loaded here: every verdict is "present"')
    return
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'brt-modules-'))
  try {
    const verdict = () => procHost(dir).kernelWireGuard()
    const dep = path.join(dir, 'modules.dep')
    const builtin = path.join(dir, 'modules.builtin')
    // Lists readable, no wireguard in either: absent.
    writeFileSync(dep, 'kernel/drivers/net/veth.ko:\n')
    writeFileSync(builtin, 'kernel/net/ipv4/tcp_cubic.ko\n')
    assert.equal(await verdict(), 'absent')
    writeFileSync(
      dep,
      'kernel/drivers/net/veth.ko:\nkernel/drivers/net/wireguard/wireguard.ko: kernel/net/ipv6/ip6_udp_tunnel.ko\n',
    )
    assert.equal(await verdict(), 'loadable')
    writeFileSync(builtin, 'kernel/drivers/net/wireguard/wireguard.ko\n')
    assert.equal(await verdict(), 'present')
    // A list that cannot be read: only a probe can tell.
    rmSync(builtin)
    writeFileSync(dep, 'kernel/drivers/net/veth.ko:\n')
    assert.equal(await verdict(), undefined)
    // No module tree for the running kernel at all: nothing can be loaded.
    assert.equal(await procHost(path.join(dir, 'missing')).kernelWireGuard(), 'absent')
    assert.equal(await commandHost(systemExec).kernelWireGuard(), undefined)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('backend detection: a kernel known to lack WireGuard is not probed by creating a link', async (t) => {
  const calls: string[] = []
  const exec = {
    run: async (cmd: string, args: readonly string[]) => {
      calls.push([cmd, ...args].join(' '))
      throw new Error(`unexpected command ${cmd} ${args.join(' ')}`)
    },
    spawn: () => {
      throw new Error('unexpected spawn')
    },
  }
  const log = { debug() {}, info() {}, warn() {}, error() {} }
  const host = { ...commandHost(systemExec), kernelWireGuard: async () => 'absent' as const }
  const hasWgTools = existsSync('/usr/bin/wg')
  if (!hasWgTools) {
    t.skip('wireguard-tools not installed: detection refuses before any probe')
    return
  }
  const goInstalled = existsSync('/usr/bin/wireguard-go') || existsSync('/usr/sbin/wireguard-go')
  const got = detectBackend({ exec, host, log } as unknown as Parameters<typeof detectBackend>[0])
  if (goInstalled) assert.equal(await got, 'wireguard-go')
  else await assert.rejects(got, /no wireguard module/)
  assert.deepEqual(calls, [], 'no ip link add probe, no other command')
})
