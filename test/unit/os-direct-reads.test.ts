// Socket reads handed straight to a callback (src/os/direct-reads.ts), over real sockets: an accepted Unix socket
// and an upgraded HTTP connection deliver every byte in order and no 'data' event; chunks kept from earlier reads
// stay as they were (each is the callee's); 'end' still comes; pause() stops the reads and resume() brings the
// rest; a stream that is not a socket, or a socket whose Readable already holds bytes, is left alone.

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import { readDirect } from '../../src/os/direct-reads.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A Unix socket server in a temporary directory; `use` gets the accepted socket and a client connected to it. */
async function withPair(use: (accepted: net.Socket, client: net.Socket) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'direct-reads-'))
  const sockPath = path.join(dir, 's.sock')
  const server = net.createServer()
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  await new Promise<void>((resolve) => server.listen(sockPath, resolve))
  const client = net.connect(sockPath)
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve)
      client.once('error', reject)
    })
    await use(await accepted, client)
  } finally {
    client.destroy()
    for (const s of [await accepted]) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Writes `parts` one write at a time, each after the last was taken, so that they arrive in many reads. */
async function writeAll(client: net.Socket, parts: Buffer[]): Promise<void> {
  for (const p of parts) {
    if (!client.write(p)) await new Promise((resolve) => client.once('drain', resolve))
    await new Promise((resolve) => setImmediate(resolve))
  }
}

test('every byte of an accepted socket reaches the callback in order, in chunks that stay as they were', async () => {
  await withPair(async (accepted, client) => {
    const chunks: Buffer[] = []
    let dataEvents = 0
    accepted.on('data', () => dataEvents++)
    assert.equal(
      readDirect(accepted, (c) => chunks.push(c)),
      true,
    )
    // Sizes from one byte to past the read buffer (64 KiB), 300 writes.
    const parts = Array.from({ length: 300 }, (_, i) =>
      randomBytes(i % 10 === 0 ? 70_000 + i : 1 + ((i * 7919) % 5000)),
    )
    const sent = Buffer.concat(parts)
    const ended = new Promise((resolve) => accepted.once('end', resolve))
    await writeAll(client, parts)
    client.end()
    await ended
    assert.equal(dataEvents, 0)
    assert.ok(chunks.length > 10, `${chunks.length} reads`)
    // Had a later read overwritten an earlier chunk's bytes, the join would differ.
    assert.equal(Buffer.concat(chunks).equals(sent), true)
  })
})

test('pause() stops the reads and resume() brings what waited', async () => {
  await withPair(async (accepted, client) => {
    const chunks: Buffer[] = []
    assert.equal(
      readDirect(accepted, (c) => {
        chunks.push(c)
        accepted.pause()
      }),
      true,
    )
    client.write(Buffer.from('first'))
    await sleep(50)
    assert.equal(Buffer.concat(chunks).toString(), 'first')
    client.write(Buffer.from('second'))
    await sleep(100)
    assert.equal(Buffer.concat(chunks).toString(), 'first', 'nothing read while paused')
    accepted.resume()
    await sleep(50)
    assert.equal(Buffer.concat(chunks).toString(), 'firstsecond')
  })
})

test('an upgraded HTTP connection (as the API server hands the bus stream over) reads directly', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'direct-reads-'))
  const sockPath = path.join(dir, 'api.sock')
  const got: Buffer[] = []
  let took = false
  const ended = new Promise<void>((resolve) => {
    const server = http.createServer((_req, res) => res.end())
    server.on('upgrade', (_req, socket: net.Socket, head: Buffer) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: test\r\nconnection: Upgrade\r\n\r\n')
      if (head.length > 0) got.push(head)
      took = readDirect(socket, (c) => got.push(c))
      socket.on('end', () => {
        socket.end()
        server.close(() => resolve())
      })
    })
    server.listen(sockPath, () => {
      const c = net.connect(sockPath, () => {
        c.write('GET /s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n')
        c.once('data', async () => {
          for (let i = 0; i < 50; i++) {
            c.write(`m${i};`)
            await sleep(1)
          }
          c.end()
        })
      })
    })
  })
  try {
    await ended
    assert.equal(took, true)
    assert.equal(Buffer.concat(got).toString(), Array.from({ length: 50 }, (_, i) => `m${i};`).join(''))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a stream that is not a socket, or a socket whose Readable holds bytes, is left to its data event', async () => {
  assert.equal(
    readDirect(new PassThrough() as unknown as net.Socket, () => {}),
    false,
  )
  await withPair(async (accepted, client) => {
    accepted.pause()
    client.write(Buffer.from('waiting'))
    await sleep(50)
    // Paused with no reader, Node has read the bytes into the Readable: handing reads over now would lose them.
    accepted.read(0)
    await sleep(20)
    assert.ok(accepted.readableLength > 0)
    assert.equal(
      readDirect(accepted, () => {}),
      false,
    )
    const rest: Buffer[] = []
    accepted.on('data', (c: Buffer) => rest.push(c))
    accepted.resume()
    await sleep(20)
    assert.equal(Buffer.concat(rest).toString(), 'waiting')
  })
})
