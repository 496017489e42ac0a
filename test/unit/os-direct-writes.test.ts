// Writes straight to a socket's descriptor while nothing is queued (src/os/direct-writes.ts), over real Unix
// sockets: bytes arrive whole and in order when a paused reader makes the kernel's buffer fill (the rest then
// queues in the socket and later writes wait behind it); a write taken at once runs its callback and leaves nothing
// queued; socket.write's false (wait for 'drain') comes through; a destroyed socket's writer writes nothing, also
// when a new connection got the same descriptor number, and its write fails as socket.write's does; a socket
// connected again after a destroy gets its writes on the new connection, never on the old descriptor.

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { DirectWriter } from '../../src/os/direct-writes.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A Unix socket server in a temporary directory: `connect()` gives a client and the server's side of it. */
async function withServer(
  use: (connect: () => Promise<{ client: net.Socket; accepted: net.Socket }>) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'direct-writes-'))
  const sockPath = path.join(dir, 's.sock')
  const server = net.createServer()
  const sockets: net.Socket[] = []
  await new Promise<void>((resolve) => server.listen(sockPath, resolve))
  const connect = async () => {
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
    const client = net.connect(sockPath)
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve)
      client.once('error', reject)
    })
    const a = await accepted
    sockets.push(client, a)
    return { client, accepted: a }
  }
  try {
    await use(connect)
  } finally {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    rmSync(dir, { recursive: true, force: true })
  }
}

test('a write taken at once runs its callback and leaves nothing queued', async () => {
  await withServer(async (connect) => {
    const { client, accepted } = await connect()
    const got: Buffer[] = []
    client.on('data', (c: Buffer) => got.push(c))
    const w = DirectWriter.over(accepted)
    assert.ok(w instanceof DirectWriter)
    let done = false
    assert.equal(
      w.write(Buffer.from('hello'), () => {
        done = true
      }),
      true,
    )
    assert.equal(done, true, 'the callback ran in the write')
    assert.equal(accepted.writableLength, 0)
    await sleep(30)
    assert.equal(Buffer.concat(got).toString(), 'hello')
  })
})

test('behind a paused reader the kernel fills, the rest queues, and everything arrives in order', async () => {
  await withServer(async (connect) => {
    const { client, accepted } = await connect()
    client.pause()
    const w = DirectWriter.over(accepted)
    const parts: Buffer[] = []
    let refused = 0
    // Writes on until the socket asks to wait (bounded): the first ones go to the kernel directly, a later one
    // finds its buffer full and queues, and the rest queue behind it.
    for (let i = 0; i < 2000 && refused === 0; i++) {
      const p = randomBytes(1 + ((i * 7919) % 9000))
      parts.push(p)
      if (!w.write(p)) refused++
    }
    assert.equal(refused, 1, 'the socket asked to wait for drain')
    assert.ok(accepted.writableLength > 0, 'some bytes wait in the socket')
    // The reader takes some at once (read on its descriptor, before this process's loop could flush the queue):
    // the kernel has room again, and writes made now must still go behind what the socket holds.
    const got: Buffer[] = []
    const clientFd = (client as unknown as { _handle: { fd: number } })._handle.fd
    const room = Buffer.alloc(64 * 1024)
    const taken = readSync(clientFd, room)
    assert.ok(taken > 0)
    got.push(Buffer.from(room.subarray(0, taken)))
    for (let i = 0; i < 50; i++) {
      const p = randomBytes(100 + i)
      parts.push(p)
      w.write(p)
    }
    const want = Buffer.concat(parts)
    let n = taken
    const all = new Promise<void>((resolve) => {
      client.on('data', (c: Buffer) => {
        got.push(c)
        n += c.length
        if (n >= want.length) resolve()
      })
    })
    const drained = new Promise<void>((resolve) => accepted.once('drain', () => resolve()))
    client.resume()
    await Promise.all([all, drained])
    assert.equal(Buffer.concat(got).equals(want), true)
  })
})

test("a destroyed socket's writer writes nothing, also to a new connection on the same descriptor", async () => {
  await withServer(async (connect) => {
    const first = await connect()
    const fd = (first.accepted as unknown as { _handle: { fd: number } })._handle.fd
    const w = DirectWriter.over(first.accepted)
    first.accepted.destroy()
    first.client.destroy()
    await sleep(20)
    // New connections until one's accepted side has the old descriptor number (bounded).
    let reused: { client: net.Socket; accepted: net.Socket } | null = null
    for (let i = 0; i < 20 && reused === null; i++) {
      const c = await connect()
      if ((c.accepted as unknown as { _handle: { fd: number } })._handle.fd === fd) reused = c
    }
    assert.ok(reused !== null, `no new connection got descriptor ${fd}`)
    const got: Buffer[] = []
    reused.client.on('data', (c: Buffer) => got.push(c))
    let failed: unknown = null
    w.write(Buffer.from('stale'), (e) => {
      failed = e
    })
    await sleep(50)
    assert.equal(Buffer.concat(got).length, 0, 'nothing reached the connection that reused the descriptor')
    assert.ok(failed instanceof Error, 'the write failed as a write to a destroyed socket does')
  })
})

test('a socket connected again after a destroy: its writer never writes to the old descriptor', async () => {
  await withServer(async (connect) => {
    const first = await connect()
    const socket = first.client
    const fdOf = (s: net.Socket) => (s as unknown as { _handle: { fd: number } })._handle.fd
    const oldFd = fdOf(socket)
    const w = DirectWriter.over(socket)
    socket.destroy()
    first.accepted.destroy()
    await new Promise((resolve) => socket.once('close', resolve))
    // Another connection takes the old descriptor number (bounded tries).
    let other: { client: net.Socket; accepted: net.Socket } | null = null
    for (let i = 0; i < 20 && other === null; i++) {
      const c = await connect()
      if (fdOf(c.client) === oldFd) other = c
    }
    assert.ok(other !== null, `no new connection got descriptor ${oldFd}`)
    const leaked: Buffer[] = []
    other.accepted.on('data', (c: Buffer) => leaked.push(c))
    // The same Socket object connects again (Node allows it): a new handle and descriptor.
    const server = (first.accepted as unknown as { server: net.Server }).server
    const again = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
    socket.connect(server.address() as string)
    await new Promise((resolve) => socket.once('connect', resolve))
    assert.notEqual(fdOf(socket), oldFd)
    const accepted = await again
    const got: Buffer[] = []
    accepted.on('data', (c: Buffer) => got.push(c))
    assert.equal(w.write(Buffer.from('fresh')), true)
    await sleep(50)
    assert.equal(
      Buffer.concat(leaked).length,
      0,
      'nothing reached the connection that has the old descriptor',
    )
    assert.equal(Buffer.concat(got).toString(), 'fresh')
    accepted.destroy()
  })
})
