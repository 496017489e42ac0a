// close() leaves nothing behind: a child process runs a testnet, two routers' discovery and link managers,
// links them, closes everything, and must then exit on its own (no process.exit), which it cannot do while
// any timer, socket or native handle is left. A stray handle shows up here as a hang, not as a flaky test
// elsewhere.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

// Runs from test/unit (tsx, .ts) and from dist/test/unit (compiled, .js): import the same layout.
const ts = import.meta.url.endsWith('.ts')
const mod = (p: string) => new URL(`../../src/${p}${ts ? '.ts' : '.js'}`, import.meta.url).href

const child = `
import { LocalTestnet } from '${mod('discovery/testnet')}'
import { Discovery, deriveTopic } from '${mod('discovery/index')}'
import { TestFederation } from '${mod('transport/testing')}'
import { once } from 'node:events'

const net = await LocalTestnet.create()
const fed = new TestFederation()
const topic = deriveTopic(fed.id, Buffer.alloc(32, 3))
const routers = ['a', 'b'].map((name) => {
  const node = fed.node(name)
  const discovery = new Discovery({ keyPair: node.keyPair, topic, ...net.discoveryOptions(), refreshIntervalMs: 300 })
  const links = fed.linkManager(node, { recheckIntervalMs: 1000 })
  discovery.on('connection', (conn) => links.accept(conn))
  return { discovery, links }
})
const up = routers.map((r) => once(r.links, 'link-up', { signal: AbortSignal.timeout(10000) }))
await Promise.all(routers.map((r) => r.discovery.start()))
await Promise.all(up)
console.log('linked')
for (const r of routers) await r.links.close()
for (const r of routers) await r.discovery.close()
await net.destroy()
console.log('closed ' + JSON.stringify(process.getActiveResourcesInfo()))
`

describe('close()', () => {
  it('leaves no handles: the process exits by itself after closing discovery and links', async () => {
    const args = [...(ts ? ['--import', 'tsx'] : []), '--input-type=module', '-e', child]
    // cwd: the repository (or dist/), where --import tsx and the packages resolve from.
    const cwd = fileURLToPath(new URL('../../', import.meta.url))
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd })
    let out = ''
    let err = ''
    let closedAt = 0
    proc.stdout.on('data', (d: Buffer) => {
      out += d
      if (!closedAt && out.includes('closed')) closedAt = performance.now()
    })
    proc.stderr.on('data', (d: Buffer) => {
      err += d
    })
    const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000)
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      proc.on('exit', (c, s) => resolve([c, s])),
    )
    clearTimeout(killer)
    const exitedAfter = performance.now() - closedAt
    assert.equal(signal, null, `the child had to be killed: it did not exit.\nstdout: ${out}\nstderr: ${err}`)
    assert.equal(code, 0, `stdout: ${out}\nstderr: ${err}`)
    assert.match(out, /linked/)
    // hyperdht itself may leave a 500 ms local-address probe timer running (and unref'd cache timers), so
    // the check is that the process ends within a moment of close(), not that the handle list is empty.
    assert.ok(exitedAfter < 2000, `exited ${Math.round(exitedAfter)} ms after close()`)
  })
})
