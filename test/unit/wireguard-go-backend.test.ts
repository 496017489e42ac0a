// The wireguard-go backend against a fake wireguard-go: create() resolves only once the UAPI socket accepts
// connections, not when its file appears (wireguard-go binds, which creates the file, a moment before it listens;
// a `set` in that moment was refused and the daemon failed to start).

import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { systemExec } from '../../src/os/exec.js'
import { silentLog } from '../../src/wireguard/supervisor.js'
import { WireGuardGoBackend } from '../../src/wireguard/wireguard-go.js'

/** A program that puts a plain file at NAME.sock (what a connect sees between bind and listen), then listens. */
function fakeWireguardGo(dir: string, listenAfterMs: number): string {
  const file = path.join(dir, 'fake-wireguard-go')
  writeFileSync(
    file,
    `#!${process.execPath}
const fs = require('node:fs'), net = require('node:net')
const sock = ${JSON.stringify(dir)} + '/' + process.argv[3] + '.sock'
fs.writeFileSync(sock, '')
setTimeout(() => {
  fs.unlinkSync(sock)
  net.createServer((c) => c.end()).listen(sock)
}, ${listenAfterMs})
process.on('SIGTERM', () => { try { fs.unlinkSync(sock) } catch {} process.exit(0) })
`,
  )
  chmodSync(file, 0o755)
  return file
}

const connects = (p: string): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createConnection({ path: p })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })

test('create() waits until the UAPI socket answers, not just until its file exists', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'brt-wggo-'))
  // No `ip` here: the stale-link check runs `ip link del`, which just reports no such device.
  const backend = new WireGuardGoBackend(
    { exec: systemExec, log: silentLog },
    { runDir: dir, command: fakeWireguardGo(dir, 300), startTimeoutMs: 5_000 },
  )
  t.after(async () => {
    await backend.destroy('brtfake0').catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  })
  await backend.create('brtfake0', { onRecreated: async () => {} })
  assert.ok(
    await connects(backend.socketPath('brtfake0')),
    'the socket accepts a connection once create() resolved',
  )
})
