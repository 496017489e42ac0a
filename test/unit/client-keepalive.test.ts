// The typed client over a kept-alive connection that the daemon closed while it sat idle in the client's pool:
// the next request must not fail with EPIPE or ECONNRESET (seen from the memory bench's long-lived clients).

import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { BlackroadClient } from '../../src/client/index.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Runs `body` with a socket path in a fresh directory and a client for it; afterwards closes the client, the
 * servers `body` registered with `closing`, and removes the directory, whatever happened.
 */
async function withClient(
  body: (file: string, client: BlackroadClient, closing: (s: { close(): void }) => void) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'brt-ka-'))
  const file = path.join(dir, 'api.sock')
  const client = new BlackroadClient({ socketPath: file, timeoutMs: 2_000 })
  const servers: { close(): void }[] = []
  try {
    await body(file, client, (srv) => servers.push(srv))
  } finally {
    client.close()
    for (const srv of servers) srv.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * A minimal HTTP/1.1 server on a Unix socket that answers the first request of each connection, keeps the
 * connection open without a Keep-Alive hint, and closes it when a second request arrives on it, unanswered:
 * the race of a daemon closing an idle connection just as the client writes its next request. Counts the
 * requests it answered.
 */
async function idleClosingServer(file: string) {
  let answered = 0
  const server = net.createServer((sock) => {
    let buf = ''
    let served = 0
    sock.on('data', (d) => {
      buf += d.toString('latin1')
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4)
        const len = /content-length: (\d+)/i.exec(buf)
        if (served++ > 0) {
          sock.destroy()
          return
        }
        answered++
        const body = JSON.stringify(len === null ? [] : { ok: true, node: 'n', agent: 'a' })
        sock.write(
          `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`,
        )
      }
    })
    sock.on('error', () => {})
  })
  await new Promise<void>((r) => server.listen(file, r))
  return { server, answered: () => answered }
}

test('a GET crossing the close of its kept-alive connection is sent again on a new one', async () => {
  await withClient(async (file, client, closing) => {
    const s = await idleClosingServer(file)
    closing(s.server)
    assert.deepEqual(await client.routes(), [])
    assert.deepEqual(await client.routes(), [], 'the second request succeeds')
    assert.deepEqual(await client.routes(), [])
    assert.equal(s.answered(), 3)
  })
})

test('a POST reset after it was written is not sent twice: the caller gets the error', async () => {
  await withClient(async (file, client, closing) => {
    const s = await idleClosingServer(file)
    closing(s.server)
    await client.sendToAgent({ to: 'a', data: 'x' })
    await assert.rejects(client.sendToAgent({ to: 'a', data: 'y' }), { code: 'TRANSPORT' })
    assert.equal(s.answered(), 1)
  })
})

test("the client drops an idle connection before the daemon's announced keep-alive timeout", async () => {
  await withClient(async (file, client, closing) => {
    let connections = 0
    const server = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end('[]')
    })
    server.keepAliveTimeout = 2_000
    server.on('connection', () => connections++)
    await new Promise<void>((r) => server.listen(file, r))
    closing(server)
    await client.routes()
    await client.routes()
    assert.equal(connections, 1, 'back-to-back requests share one connection')
    // The server announces timeout=2: the client lets the connection go after 1 s idle.
    await sleep(1_300)
    await client.routes()
    assert.equal(connections, 2, 'a new connection after the hinted idle time')
  })
})
