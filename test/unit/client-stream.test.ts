// The typed client's bus stream (src/client/stream.ts) against a scripted daemon end on a real Unix socket:
// MSG frames that repeat the previous frame's subject and senders (a run of messages) are read without
// decoding those again, and every message still arrives with its own subscription, ids and payload, also
// when heads alternate, payloads are empty or a frame is split across reads.

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { decodeFrame, type Frame, FrameOut, FrameSplitter } from '../../src/agents/frames.js'
import { BusStream, type StreamMessage } from '../../src/client/stream.js'

/** A daemon end that upgrades the connection, acks SUB frames and hands the socket to the test. */
async function scriptedDaemon(
  dir: string,
): Promise<{ path: string; conn: Promise<net.Socket>; close(): void }> {
  const sockPath = path.join(dir, 'd.sock')
  let give: (s: net.Socket) => void = () => {}
  const conn = new Promise<net.Socket>((r) => (give = r))
  const server = net.createServer((s) => {
    let head = Buffer.alloc(0)
    const split = new FrameSplitter()
    let upgraded = false
    s.on('data', (chunk: Buffer) => {
      if (!upgraded) {
        head = Buffer.concat([head, chunk])
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        upgraded = true
        s.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: blackroad-bus/1\r\n\r\n')
        give(s)
        chunk = head.subarray(end + 4)
      }
      split.push(chunk, (buf, start, end) => {
        const f: Frame = decodeFrame(buf, start, end)
        if (f.kind === 'sub') {
          const out = new FrameOut()
          out.write({ kind: 'ok', id: f.sid, payload: new Uint8Array(0) })
          s.write(out.take())
        }
      })
    })
  })
  await new Promise<void>((r) => server.listen(sockPath, r))
  return { path: sockPath, conn, close: () => server.close() }
}

test('MSG frames with repeated heads arrive whole, each with its own ids and payload', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'brt-client-'))
  const d = await scriptedDaemon(dir)
  try {
    const s = await BusStream.connect(d.path)
    const got: Record<string, string[]> = { a: [], b: [] }
    const show = (m: StreamMessage) =>
      `${m.subject}|${m.fromNode}|${m.fromAgent}|${Buffer.from(m.data)}|${m.isRequest}`
    await s.subscribed(s.subscribe('x.*', (m) => got.a!.push(show(m))))
    await s.subscribed(s.subscribe('y.*', (m) => got.b!.push(show(m))))
    const sock = await d.conn
    const out = new FrameOut()
    const msg = (
      sid: number,
      rid: number,
      subject: string,
      fromNode: string,
      fromAgent: string,
      text: string,
    ) => out.write({ kind: 'msg', sid, rid, subject, fromNode, fromAgent, payload: Buffer.from(text) })
    // sids: the client numbers its subscriptions from 1.
    for (let i = 0; i < 5; i++) msg(1, 0, 'x.1', 'n1', '', `p${i}`)
    msg(1, 0, 'x.1', 'n1', '', '') // empty payload, same head
    msg(2, 0, 'x.1', 'n1', '', 'other sid, same head')
    msg(1, 0, 'x.2', 'n1', '', 'new subject')
    msg(1, 0, 'x.2', 'n2', 'agent', 'new sender')
    msg(1, 7, 'x.2', 'n2', 'agent', 'a request')
    msg(1, 0, 'x.1', 'n1', '', 'back to the first head')
    const bytes = out.take()
    // Split mid-frame, so some frames come from a joined buffer.
    sock.write(bytes.subarray(0, 37))
    await new Promise((r) => setTimeout(r, 20))
    sock.write(bytes.subarray(37))
    const deadline = Date.now() + 5000
    while (got.a!.length + got.b!.length < 11 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10))
    assert.deepEqual(got.a, [
      ...[0, 1, 2, 3, 4].map((i) => `x.1|n1||p${i}|false`),
      'x.1|n1|||false',
      'x.2|n1||new subject|false',
      'x.2|n2|agent|new sender|false',
      'x.2|n2|agent|a request|true',
      'x.1|n1||back to the first head|false',
    ])
    assert.deepEqual(got.b, ['x.1|n1||other sid, same head|false'])
    s.close()
  } finally {
    d.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('an inbox nobody reads stops the socket past maxQueued; reading it takes the rest, in order', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'brt-client-'))
  const d = await scriptedDaemon(dir)
  try {
    const s = await BusStream.connect(d.path, { maxQueued: 10 })
    const inbox = s.subscribe('x.*')
    await s.subscribed(inbox)
    const sock = await d.conn
    const batch = (from: number) => {
      const out = new FrameOut()
      for (let i = from; i < from + 50; i++)
        out.write({
          kind: 'msg',
          sid: 1,
          rid: 0,
          subject: 'x.1',
          fromNode: 'n1',
          fromAgent: '',
          payload: Buffer.from(`p${i}`),
        })
      sock.write(out.take())
    }
    const until = async (what: string, ok: () => boolean) => {
      const deadline = Date.now() + 5000
      while (!ok()) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what} (queued ${inbox.queued})`)
        await new Promise((r) => setTimeout(r, 10))
      }
    }
    batch(0)
    await until('the first 50', () => inbox.queued === 50)
    // Over maxQueued: the client reads no more, however long the second batch waits in the socket.
    batch(50)
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(inbox.queued, 50, 'read past maxQueued while the inbox was full')
    const got: string[] = []
    for (let i = 0; i < 45; i++) got.push(Buffer.from((await inbox.next()).value!.data).toString())
    // Down to 5 queued: reading resumes and the second batch arrives behind the first.
    await until('the second 50', () => inbox.queued === 55)
    for (let i = 0; i < 55; i++) got.push(Buffer.from((await inbox.next()).value!.data).toString())
    assert.deepEqual(
      got,
      Array.from({ length: 100 }, (_, i) => `p${i}`),
    )
    s.close()
  } finally {
    d.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
