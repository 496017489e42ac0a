// The lane's direct path (src/transport/lane-direct.ts) against real secret streams over real TCP: what it
// writes, a stream-path reader reads unchanged, and the other way round; order is kept across the switch; the
// end of the stream still ends it; anything that is not a secret stream gets no direct path.

import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { createServer, connect as tcpConnect } from 'node:net'
import { test } from 'node:test'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import { generateKeyPair } from '../../src/identity/index.js'
import { type DirectPath, directPath } from '../../src/transport/lane-direct.js'

type Stream = InstanceType<typeof NoiseSecretStream>

/** A secret-stream pair over a loopback TCP connection, both ends open. */
async function pair(): Promise<{ a: Stream; b: Stream; close: () => void }> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  const accepted = new Promise<import('node:net').Socket>((r) => server.once('connection', r))
  const ka = generateKeyPair()
  const kb = generateKeyPair()
  const a = new NoiseSecretStream(true, tcpConnect({ host: '127.0.0.1', port }), {
    keyPair: ka,
    remotePublicKey: kb.publicKey,
  })
  const b = new NoiseSecretStream(false, await accepted, { keyPair: kb })
  a.on('error', () => {})
  b.on('error', () => {})
  await Promise.all([a.opened, b.opened])
  return {
    a,
    b,
    close: () => {
      a.destroy()
      b.destroy()
      server.close()
    },
  }
}

const msg = (i: number, size = 64) => {
  const m = Buffer.alloc(size, i & 0xff)
  m.writeUInt32BE(i, 0)
  return m
}

/** Collects `n` messages from a stream's 'data' events. */
function collect(s: Stream, n: number): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const got: Buffer[] = []
    s.on('data', (d: Uint8Array) => {
      got.push(Buffer.from(d))
      if (got.length === n) resolve(got)
    })
  })
}

test('direct writes are read unchanged and in order by a stream-path reader, after stream writes', {
  timeout: 20_000,
}, async () => {
  const { a, b, close } = await pair()
  try {
    const d = directPath(a)
    assert.ok(d !== null, 'an open secret stream has a direct path')
    const got = collect(b, 300)
    for (let i = 0; i < 100; i++) a.write(msg(i))
    // What the stream queued goes first: the direct path is taken only once the writer is idle.
    await new Promise((r) => setImmediate(r))
    assert.equal(d.writerIdle(), true)
    for (let i = 100; i < 300; i++) d.write(msg(i, i === 200 ? 70_000 : 64))
    const all = await got
    assert.deepEqual(
      all.map((m) => m.readUInt32BE(0)),
      Array.from({ length: 300 }, (_, i) => i),
    )
    assert.equal(all[200]!.length, 70_000, 'a message larger than one TCP read arrives whole')
    assert.ok(all[150]!.equals(msg(150)), 'payload bytes unchanged')
  } finally {
    close()
  }
})

/**
 * Direct writes made while the reader's socket is paused: at least `n`, and on (up to 2,000) until some have stayed
 * queued once the kernel's buffers are full (how much they take depends on the machine); then read: message i must
 * arrive as expected(i). A reader that fails to authenticate a frame destroys its stream, which fails the test at
 * once rather than at its timeout. Returns how many writes stayed queued.
 */
async function writeBehindPausedReader(
  n: number,
  write: (d: DirectPath, i: number) => void,
  expected: (i: number) => Buffer,
): Promise<number> {
  const { a, b, close } = await pair()
  try {
    const d = directPath(a)!
    await new Promise((r) => setImmediate(r))
    assert.equal(d.writerIdle(), true)
    const raw = b.rawStream as unknown as import('node:net').Socket
    raw.pause()
    const got: Buffer[] = []
    b.on('data', (m: Uint8Array) => got.push(Buffer.from(m)))
    let queued = 0
    let sent = 0
    while (sent < 2000 && (sent < n || queued < 5)) {
      write(d, sent++)
      if (d.socket.writableLength > 0) queued++
    }
    raw.resume()
    let closed = false
    b.once('close', () => {
      closed = true
    })
    const end = Date.now() + 20_000
    while (got.length < sent && !closed && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
    assert.equal(closed && got.length < sent, false, 'the reader closed: a frame failed to authenticate')
    assert.equal(got.length, sent, 'every message arrived')
    for (let i = 0; i < sent; i++) assert.ok(got[i]!.equals(expected(i)), `message ${i} unchanged`)
    return queued
  } finally {
    close()
  }
}

test('large direct writes the socket still holds are never overwritten by the next one', {
  timeout: 30_000,
}, async () => {
  // Frames past the pool size are sealed in one reused buffer while the socket takes each write at once. Behind
  // a paused reader writes queue: a buffer reused while queued would put later bytes in place of earlier ones
  // (and fail authentication at the reader).
  const sized = (i: number) => msg(i, 20_000 + (i % 7) * 6000)
  const queued = await writeBehindPausedReader(120, (d, i) => d.write(sized(i)), sized)
  assert.ok(queued > 0, 'some writes stayed queued behind the paused reader')
})

test('writeWith: a body written in place where it is sealed arrives as write() sends it, also while writes queue', {
  timeout: 30_000,
}, async () => {
  // Bodies built by a fill callback that uses working space past the body (as a RUN frame's in-place build
  // does), small (a buffer of their own) and large (the reused sealing buffer), alternating with write().
  const head = Buffer.from([0xab, 0xcd])
  const body = (i: number) => msg(i, i % 3 === 0 ? 100 : 20_000 + (i % 5) * 9000)
  const queued = await writeBehindPausedReader(
    160,
    (d, i) => {
      const b = body(i)
      if (i % 2 === 0) d.write(Buffer.concat([head, b]))
      else
        d.writeWith(head, b.length, b.length + 500, (out, at) => {
          out.fill(0xee, at + b.length, at + b.length + 500)
          b.copy(out, at)
        })
    },
    (i) => Buffer.concat([head, body(i)]),
  )
  assert.ok(queued > 0, 'some writes stayed queued behind the paused reader')
})

test('takeReads hands every decrypted message over at once; the end of the stream still ends it', {
  timeout: 20_000,
}, async () => {
  const { a, b, close } = await pair()
  try {
    const d = directPath(b)
    assert.ok(d !== null)
    assert.equal(d.readerIdle(), true)
    const got: number[] = []
    let all: () => void = () => {}
    const done = new Promise<void>((r) => {
      all = r
    })
    d.takeReads((m) => {
      got.push(Buffer.from(m).readUInt32BE(0))
      if (got.length === 500) all()
    })
    let viaStream = 0
    b.on('data', () => viaStream++)
    const da = directPath(a)!
    await new Promise((r) => setImmediate(r))
    for (let i = 0; i < 250; i++) a.write(msg(i))
    await new Promise((r) => setImmediate(r))
    for (let i = 250; i < 500; i++) da.write(msg(i))
    await done
    assert.deepEqual(
      got,
      Array.from({ length: 500 }, (_, i) => i),
      'all, in order, stream-written and direct',
    )
    assert.equal(viaStream, 0, 'none went through the stream')
    const ended = new Promise<void>((r) => b.once('end', () => r()))
    a.end()
    await ended
  } finally {
    close()
  }
})

test('a tampered ciphertext is refused by the reader: the stream is destroyed, nothing is delivered', {
  timeout: 20_000,
}, async () => {
  const { a, b, close } = await pair()
  try {
    const d = directPath(b)!
    const got: Uint8Array[] = []
    d.takeReads((m) => got.push(m))
    const closed = new Promise<void>((r) => b.once('close', () => r()))
    // A well-framed message whose bytes are not a sealing under the stream's key.
    const raw = (a as unknown as { rawStream: import('node:net').Socket }).rawStream
    const bogus = Buffer.alloc(3 + 17 + 32, 0x5a)
    bogus[0] = 17 + 32
    bogus[1] = 0
    bogus[2] = 0
    raw.write(bogus)
    await closed
    assert.equal(got.length, 0)
  } finally {
    close()
  }
})

test('no direct path for anything that is not an open secret stream; oversize frames are refused', {
  timeout: 20_000,
}, async () => {
  assert.equal(directPath(null), null)
  assert.equal(directPath({}), null)
  assert.equal(directPath(new EventEmitter()), null)
  const { a, close } = await pair()
  try {
    const d = directPath(a)!
    assert.throws(() => d.write(new Uint8Array(0xffffff)), RangeError)
  } finally {
    close()
  }
})
