// The bus stream frame codec (src/agents/frames.ts): exact layouts of a few frames, 1,000 random frames of every
// kind round-trip, 10,000 random byte strings and 10,000 mutations of valid frames decode to a frame or a
// DecodeError and never anything else, and the splitter cuts any chunking of a stream into the same frames.

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  FrameOut,
  FrameSplitter,
  Kind,
  MAX_FRAME_BYTES,
} from '../../src/agents/frames.js'
import { WriteBuffers, type WriteSink } from '../../src/os/write-buffers.js'
import { DecodeError } from '../../src/wire/index.js'
import { mutate, mutationsArb } from './mutations.js'

const u32 = fc.nat({ max: 0xffffffff })
const str = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 10 }))
const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => new Uint8Array(b))
const prio = fc.integer({ min: 0, max: 10 })

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ kind: fc.constant('pub' as const), id: u32, priority: prio, subject: str, payload: bytes }),
  fc.record({
    kind: fc.constant('send' as const),
    id: u32,
    priority: prio,
    to: str,
    subject: str,
    payload: bytes,
  }),
  fc.record({
    kind: fc.constant('req' as const),
    id: u32,
    timeoutMs: u32,
    to: str,
    subject: str,
    payload: bytes,
  }),
  fc.record({ kind: fc.constant('reply' as const), rid: u32, error: fc.boolean(), payload: bytes }),
  fc.record({ kind: fc.constant('sub' as const), sid: u32, responder: fc.boolean(), pattern: str }),
  fc.record({ kind: fc.constant('unsub' as const), sid: u32 }),
  fc.record({
    kind: fc.constant('register' as const),
    id: u32,
    name: str,
    type: str,
    labels: fc.array(fc.tuple(str, str), { maxLength: 5 }),
    capabilities: fc.array(str, { maxLength: 5 }),
  }),
  fc.record({ kind: fc.constant('unregister' as const), id: u32, name: str }),
  fc.record({ kind: fc.constant('ping' as const), id: u32 }),
  fc.record({
    kind: fc.constant('msg' as const),
    sid: u32,
    rid: u32,
    subject: str,
    fromNode: str,
    fromAgent: str,
    payload: bytes,
  }),
  fc.record({ kind: fc.constant('ok' as const), id: u32, payload: bytes }),
  fc.record({ kind: fc.constant('registered' as const), id: u32, node: str, agent: str, dns: str }),
  fc.record({ kind: fc.constant('error' as const), id: u32, code: str, message: str }),
  fc.record({ kind: fc.constant('pong' as const), id: u32 }),
)

/** Decodes one whole encoded frame (length prefix included). */
function decodeWhole(b: Uint8Array): Frame {
  if (b.length < 4) throw new DecodeError('truncated', 'no length')
  const n = Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32BE(0)
  if (n !== b.length - 4) throw new DecodeError('invalid-value', 'length mismatch')
  return decodeFrame(b, 4, b.length)
}

/** The frame with payload bytes as a plain array (a Buffer view and a Uint8Array compare equal then). */
const plain = (f: Frame): unknown =>
  Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v instanceof Uint8Array ? [...v] : v]))

function frameOrDecodeError(fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err
    assert.equal(err.code, 'DECODE_ERROR')
  }
}

describe('stream frame layouts', () => {
  test('PUB is length, kind, id, priority, subject, then the payload to the end', () => {
    const b = encodeFrame({
      kind: 'pub',
      id: 7,
      priority: 3,
      subject: 'a.b',
      payload: Uint8Array.from([9, 8]),
    })
    assert.deepEqual([...b], [0, 0, 0, 13, Kind.PUB, 0, 0, 0, 7, 3, 0, 3, 0x61, 0x2e, 0x62, 9, 8])
  })

  test('each decoder rule gives its DecodeError reason', () => {
    const reason = (body: number[]) => {
      try {
        decodeFrame(Uint8Array.from(body), 0, body.length)
        return 'ok'
      } catch (err) {
        return (err as DecodeError).reason
      }
    }
    assert.equal(reason([]), 'truncated')
    assert.equal(reason([99]), 'unknown-tag')
    assert.equal(reason([Kind.PING, 0, 0, 0]), 'truncated')
    assert.equal(reason([Kind.PING, 0, 0, 0, 1, 0]), 'trailing-bytes')
    assert.equal(reason([Kind.REPLY, 0, 0, 0, 1, 2]), 'invalid-bool')
    assert.equal(reason([Kind.PUB, 0, 0, 0, 1, 11, 0, 0]), 'invalid-value')
    assert.equal(reason([Kind.PUB, 0, 0, 0, 1, 0, 0, 5, 0x61]), 'truncated')
    assert.equal(reason([Kind.UNREGISTER, 0, 0, 0, 1, 0, 2, 0xc3, 0x28]), 'invalid-utf8')
    assert.equal(reason([Kind.REGISTER, 0, 0, 0, 1, 0, 1, 0x61, 0, 1, 0x62, 200]), 'length-exceeds-max')
    assert.equal(reason([Kind.PING, 0, 0, 0, 1]), 'ok')
  })

  test('the encoder refuses what it cannot carry and leaves the buffer as it was', () => {
    const out = new FrameOut(16)
    out.write({ kind: 'ping', id: 1 })
    assert.throws(
      () =>
        out.write({
          kind: 'pub',
          id: 0,
          priority: 0,
          subject: 's',
          payload: new Uint8Array(MAX_FRAME_BYTES),
        }),
      RangeError,
    )
    assert.throws(() => out.write({ kind: 'unregister', id: 1, name: 'x'.repeat(70_000) }), RangeError)
    assert.deepEqual([...out.take()], [...encodeFrame({ kind: 'ping', id: 1 })])
  })

  test('take() gives buffers that later frames never overwrite, small (copied) or large (handed over)', () => {
    const out = new FrameOut(1024)
    const msg = (i: number, size: number): Frame => ({
      kind: 'msg',
      sid: i,
      rid: 0,
      subject: `s.${i}`,
      fromNode: 'n',
      fromAgent: '',
      payload: new Uint8Array(size).fill(i),
    })
    const taken: { bytes: Buffer; frames: Frame[] }[] = []
    for (const [i, count, size] of [
      [1, 1, 10],
      [2, 100, 300],
      [3, 1, 10],
      [4, 200, 256],
      [5, 3, 5000],
    ] as const) {
      const frames = Array.from({ length: count }, () => msg(i, size))
      for (const f of frames) out.write(f)
      taken.push({ bytes: out.take(), frames })
      assert.equal(out.length, 0)
    }
    for (const { bytes, frames } of taken) {
      const got: Frame[] = []
      new FrameSplitter().push(bytes, (b, s, e) => got.push(decodeFrame(b, s, e)))
      assert.deepEqual(
        got.map((f) => (f.kind === 'msg' ? { ...f, payload: [...f.payload] } : f)),
        frames.map((f) => (f.kind === 'msg' ? { ...f, payload: [...f.payload] } : f)),
      )
    }
  })
  test('a count written right after a string that filled the buffer is kept (register)', () => {
    // A string reserves 3 bytes per UTF-16 unit; three-byte characters fill that exactly, and when the
    // buffer grew to just that size the label and capability counts behind the strings fell off its end
    // (a Buffer ignores writes past its length), so the peer read garbage there ("128 capabilities").
    // Found by the splitter property with seed 1067906219.
    const wide = '\u0800'
    for (let n = 0; n <= 48; n++) {
      for (let m = 0; m <= 48; m += 3) {
        const f: Frame = {
          kind: 'register',
          id: n * 100 + m,
          name: wide.repeat(n),
          type: wide.repeat(m),
          labels: [[wide.repeat(m), '']],
          capabilities: [wide.repeat(n)],
        }
        for (const initial of [1, 8, 64]) {
          const out = new FrameOut(initial)
          out.write(f)
          assert.deepEqual(decodeWhole(out.take()), f, `name ${n}, type ${m}, initial ${initial}`)
        }
      }
    }
  })
})

describe('stream frame properties', () => {
  test('1,000 random frames of every kind round-trip exactly', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        assert.deepEqual(plain(decodeWhole(encodeFrame(f))), plain(f))
      }),
      { numRuns: 1_000 },
    )
  })

  test('10,000 random byte strings give a frame or a DecodeError', () => {
    const kinds = Object.values(Kind)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (b, k) => {
        // Most inputs start with a real kind, so the fuzzing reaches the fields behind it.
        if (b.length > 0 && k % 4 !== 0) b[0] = kinds[k % kinds.length]!
        frameOrDecodeError(() => decodeFrame(b, 0, b.length))
      }),
      { numRuns: 10_000 },
    )
  })

  test('10,000 mutations of valid frames give a frame or a DecodeError', () => {
    fc.assert(
      fc.property(frameArb, mutationsArb, (f, muts) => {
        const b = mutate(encodeFrame(f).subarray(4), muts)
        frameOrDecodeError(() => decodeFrame(b, 0, b.length))
      }),
      { numRuns: 10_000 },
    )
  })

  test('pub() writes the bytes write() writes for the same PUB frame, its subject cache across other frames', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            id: fc.nat({ max: 0xffffffff }),
            priority: fc.nat({ max: 255 }),
            subject: fc.constantFrom('a', 'jobs.new', 'é.ü', 'a'.repeat(300)),
            payload: fc.uint8Array({ maxLength: 300 }),
            other: fc.boolean(),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        (pubs) => {
          const viaPub = new FrameOut(16)
          const viaWrite = new FrameOut(16)
          for (const m of pubs) {
            viaPub.pub(m.id, m.priority, m.subject, m.payload)
            viaWrite.write({ kind: 'pub', ...m })
            if (m.other) {
              for (const out of [viaPub, viaWrite]) out.write({ kind: 'ping', id: m.id })
            }
          }
          assert.deepEqual([...viaPub.take()], [...viaWrite.take()])
        },
      ),
      { numRuns: 1000 },
    )
    assert.throws(() => new FrameOut().pub(1, 0, 's', new Uint8Array(MAX_FRAME_BYTES)), RangeError)
  })

  test('the splitter gives the same frames however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (frames, cuts) => {
          const out = new FrameOut(8)
          for (const f of frames) out.write(f)
          const stream = out.take()
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)
          const split = new FrameSplitter()
          const got: unknown[] = []
          let prev = 0
          for (const p of [...points, stream.length]) {
            split.push(stream.subarray(prev, p), (buf, s, e) => got.push(plain(decodeFrame(buf, s, e))))
            prev = p
          }
          assert.deepEqual(got, frames.map(plain))
          assert.equal(split.buffered, 0)
        },
      ),
      { numRuns: 500 },
    )
  })

  test('frames within a chunk are views of it; only a frame that spans chunks is copied', () => {
    // Five PUB frames with 1000-byte payloads, cut so that frame 1 spans three chunks, frame 3 starts with
    // two bytes of its length in one chunk, and the others lie within one.
    const out = new FrameOut()
    for (let i = 0; i < 5; i++)
      out.write({ kind: 'pub', id: i, priority: 0, subject: 's', payload: new Uint8Array(1000).fill(i) })
    const stream = out.take()
    const size = stream.length / 5
    const cuts = [0, size + 10, size + 500, 3 * size + 2, stream.length]
    // Each chunk in an ArrayBuffer of its own (small Buffers share Node's pool).
    const chunks = cuts
      .slice(1)
      .map((c, i) => Buffer.from(new Uint8Array(stream.subarray(cuts[i]!, c)).buffer))
    const split = new FrameSplitter()
    const got: { id: number; view: boolean }[] = []
    const held: number[] = []
    for (const chunk of chunks) {
      split.push(chunk, (buf, s, e) => {
        const f = decodeFrame(buf, s, e)
        assert.ok(f.kind === 'pub' && f.payload.every((b) => b === f.id))
        got.push({ id: (f as { id: number }).id, view: buf.buffer === chunk.buffer })
      })
      held.push(split.buffered)
    }
    assert.deepEqual(got, [
      { id: 0, view: true },
      { id: 1, view: false },
      { id: 2, view: true },
      { id: 3, view: false },
      { id: 4, view: true },
    ])
    assert.deepEqual(held, [10, 500, 2, 0])
  })

  test('a zero or oversized length is a DecodeError the connection cannot get past', () => {
    const split = new FrameSplitter(1000)
    assert.throws(() => split.push(Buffer.from([0, 0, 0, 0]), () => {}), DecodeError)
    assert.throws(() => new FrameSplitter(1000).push(Buffer.from([0, 0, 3, 233, 1]), () => {}), /1\.\.1000/)
    // 10,000 random streams: frames or a DecodeError, nothing else, and nothing handed out past a bad length.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        frameOrDecodeError(() =>
          new FrameSplitter(200).push(Buffer.from(b), (buf, s, e) =>
            frameOrDecodeError(() => decodeFrame(buf, s, e)),
          ),
        )
      }),
      { numRuns: 10_000 },
    )
  })
})

describe('MSG frames of a run (FrameOut.msgRun)', () => {
  /** Payloads of the given sizes in one buffer, `gap(i)` bytes of filler before payload i. */
  function laidOut(sizes: number[], gap: (i: number) => number) {
    const parts: number[] = []
    const offs = new Int32Array(2 * sizes.length)
    sizes.forEach((n, i) => {
      for (let k = 0; k < gap(i); k++) parts.push(0xee)
      offs[2 * i] = parts.length
      for (let k = 0; k < n; k++) parts.push((i * 7 + k) & 0xff)
      offs[2 * i + 1] = parts.length
    })
    return { src: Buffer.from(parts), offs }
  }

  const sameAsOneByOne = (sizes: number[], gap: (i: number) => number, before = 0) => {
    const { src, offs } = laidOut(sizes, gap)
    const a = new FrameOut(256)
    const b = new FrameOut(256)
    // Something already in the buffer, so the run starts at an offset and makes it grow.
    for (let k = 0; k < before; k++) {
      a.write({ kind: 'pong', id: k })
      b.write({ kind: 'pong', id: k })
    }
    a.msgRun(9, 'jobs.new', 'node-a', 'agent-x', src, offs, sizes.length)
    sizes.forEach((_, i) => {
      const payload = src.subarray(offs[2 * i]!, offs[2 * i + 1]!)
      b.write({
        kind: 'msg',
        sid: 9,
        rid: 0,
        subject: 'jobs.new',
        fromNode: 'node-a',
        fromAgent: 'agent-x',
        payload,
      })
    })
    assert.deepEqual([...a.take()], [...b.take()])
  }

  test('payloads next to each other or behind short length prefixes (a received run)', () => {
    sameAsOneByOne([3, 0, 300, 1, 64], () => 0)
    sameAsOneByOne([3, 0, 300, 1, 64], (i) => (i === 0 ? 5 : 2), 3)
    sameAsOneByOne(
      Array.from({ length: 500 }, (_, i) => (i * 37) % 260),
      () => 1,
      40,
    )
  })

  test('payloads with long gaps between them (messages left out of a run)', () => {
    sameAsOneByOne([10, 10, 10, 10], (i) => (i === 2 ? 500 : 1))
    sameAsOneByOne([0, 0, 0], () => 100, 2)
  })

  test('10,000 random layouts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ size: fc.nat({ max: 80 }), gap: fc.nat({ max: 60 }) }), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.nat({ max: 5 }),
        (items, before) =>
          sameAsOneByOne(
            items.map((x) => x.size),
            (i) => items[i]!.gap,
            before,
          ),
      ),
      { numRuns: 10_000 },
    )
  })
})

describe('FrameOut.writeTo over a real Unix socket', () => {
  // 60 outputs of 8 PUB frames with 16 KiB payloads (128 KiB each, past the copy-out size), each payload filled
  // with its own byte. The reader is paused at first, so the kernel's buffer fills and the socket queues writes:
  // a working buffer reused while the socket still holds it would send later bytes in place of earlier ones.
  test('what the socket still holds is never overwritten; what it took at once is reused', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'frameout-'))
    const sock = path.join(dir, 's')
    const received: number[] = []
    const splitter = new FrameSplitter()
    let reader: Socket | null = null
    const server = createServer((s) => {
      reader = s
      s.pause()
      s.on('data', (chunk: Buffer) =>
        splitter.push(chunk, (buf, start, end) => {
          const f = decodeFrame(buf, start, end)
          assert.equal(f.kind, 'pub')
          if (f.kind === 'pub') {
            assert.ok(
              f.payload.every((b) => b === f.payload[0]),
              `payload ${f.id} is one byte throughout`,
            )
            received.push(f.payload[0]!)
          }
        }),
      )
    })
    await new Promise<void>((r) => server.listen(sock, r))
    const client = connect(sock)
    await new Promise<void>((r) => client.on('connect', r))
    try {
      const out = new FrameOut()
      const pub = (id: number, size: number, fill: number): Frame => ({
        kind: 'pub',
        id,
        priority: 5,
        subject: 's',
        payload: new Uint8Array(size).fill(fill),
      })
      /** FrameOut's working buffer (private). */
      const working = () => (out as unknown as { buf: Buffer }).buf
      const sent: number[] = []
      let queuedWrites = 0
      let reusedWrites = 0
      for (let i = 0; i < 60; i++) {
        for (let k = 0; k < 8; k++) {
          const fill = (i * 8 + k) & 0xff
          out.write(pub(i * 8 + k, 16384, fill))
          sent.push(fill)
        }
        const before = working()
        out.writeTo(client)
        if (client.writableLength > 0) queuedWrites++
        else if (working() === before) reusedWrites++
      }
      assert.ok(queuedWrites > 0, 'the paused reader made the socket queue writes')
      await until(() => reader !== null)
      reader!.resume()
      await until(() => received.length === sent.length)
      assert.deepEqual(received, sent)
      const spares = (out as unknown as { buffers: { spares: Buffer[] } }).buffers.spares
      assert.ok(spares.length > 0, 'queued writes gave their buffers back once done')
      // Once the reader drains, later writes go out at once and keep the working buffer.
      for (let i = 0; i < 20; i++) {
        out.write(pub(1000 + i, 65536, i))
        sent.push(i)
        const before = working()
        out.writeTo(client)
        if (client.writableLength === 0 && working() === before) reusedWrites++
        await until(() => received.length === sent.length)
      }
      assert.deepEqual(received, sent)
      assert.ok(reusedWrites > 0, 'writes the socket took at once kept the working buffer')
    } finally {
      client.destroy()
      server.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('WriteBuffers', () => {
  test('once outputs have grown, the spares queued writes give back fit them: nothing more is allocated', () => {
    // A sink that holds every write until released (as a socket behind a slow reader), and outputs of
    // 70-125 KiB: sized by each request, a spare smaller than the next output was dropped and a new buffer
    // made, round after round.
    const held: (() => void)[] = []
    let holding = 0
    const sink: WriteSink = {
      write(chunk, done) {
        holding += chunk.length
        held.push(() => {
          holding -= chunk.length
          done?.()
        })
        return true
      },
      get writableLength() {
        return holding
      },
    }
    const wb = new WriteBuffers(64 * 1024)
    const seen = new Set<Buffer>()
    const made: number[] = []
    for (let round = 0; round < 10; round++) {
      let fresh = 0
      for (let k = 0; k < 4; k++) {
        const kib = 70 + (((round * 4 + k) * 37) % 56)
        const buf = wb.fresh(kib * 1024)
        assert.ok(buf.length >= kib * 1024)
        if (!seen.has(buf)) fresh++
        seen.add(buf)
        wb.write(sink, buf, kib * 1024)
        assert.equal(wb.taken, false)
      }
      made.push(fresh)
      for (const release of held.splice(0)) release()
    }
    assert.deepEqual(made.slice(2), [0, 0, 0, 0, 0, 0, 0, 0], `buffers made per round: ${made.join(' ')}`)
    assert.ok(seen.size <= 6, `${seen.size} buffers in all`)
  })
})

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 2))
  }
}
