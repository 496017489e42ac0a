// The bus bench's NATS client (bench/bus/nats.ts) against a stand-in server on a real loopback socket: messages
// whatever the reads they are cut into (a message held from one read completed from the next, one longer than
// the bytes joined for that, several per read) arrive whole and in order.

import assert from 'node:assert/strict'
import { createServer, type Socket, connect as tcpConnect } from 'node:net'
import { test } from 'node:test'
import { NatsConn } from '../../bench/bus/nats.js'

test('the bench NATS client reads MSGs cut at any point into whole messages, in order', {
  timeout: 30_000,
}, async () => {
  let peer: Socket | null = null
  const subscribed = new Promise<string>((resolve) => {
    const server = createServer((s) => {
      peer = s
      s.write('INFO {"server_id":"stand-in"}\r\n')
      let lines = ''
      s.on('data', (d: Buffer) => {
        lines += d.toString('latin1')
        for (let i = lines.indexOf('\r\n'); i >= 0; i = lines.indexOf('\r\n')) {
          const line = lines.slice(0, i)
          lines = lines.slice(i + 2)
          if (line === 'PING') s.write('PONG\r\n')
          const m = /^SUB (\S+) (\d+)$/.exec(line)
          if (m) resolve(m[2]!)
        }
      })
    })
    server.listen(0, '127.0.0.1', async () => {
      const port = (server.address() as { port: number }).port
      const conn = await NatsConn.over(tcpConnect(port, '127.0.0.1'))
      state.conn = conn
      conn.subscribe('bench.x', (_s, _r, payload) => state.got.push(Buffer.from(payload)))
      server.close()
    })
  })
  const state: { conn: NatsConn | null; got: Buffer[] } = { conn: null, got: [] }
  const sid = await subscribed
  // Deterministic sizes (0 to ~9 KB: some longer than the 4 KiB the client joins to a held message) and cuts.
  let seed = 12345
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % n
  }
  const sent: Buffer[] = []
  const parts: Buffer[] = []
  for (let i = 0; i < 300; i++) {
    const payload = Buffer.alloc(rnd(7) === 0 ? 4000 + rnd(5000) : rnd(400), i & 0xff)
    if (payload.length >= 2) payload.writeUInt16BE(i, 0)
    sent.push(payload)
    parts.push(Buffer.from(`MSG bench.x ${sid} ${payload.length}\r\n`), payload, Buffer.from('\r\n'))
  }
  const stream = Buffer.concat(parts)
  ;(peer as unknown as Socket).setNoDelay(true)
  for (let at = 0; at < stream.length; ) {
    const n = 1 + rnd(rnd(4) === 0 ? 20 : 3000)
    ;(peer as unknown as Socket).write(stream.subarray(at, at + n))
    at += n
    // Most cuts become separate reads: the client reads between writes.
    if (rnd(3) > 0) await new Promise((r) => setTimeout(r, 1))
  }
  const end = Date.now() + 10_000
  while (state.got.length < sent.length && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
  assert.equal(state.got.length, sent.length)
  for (let i = 0; i < sent.length; i++) assert.ok(state.got[i]!.equals(sent[i]!), `message ${i}`)
  state.conn!.close()
  ;(peer as unknown as Socket).destroy()
})
