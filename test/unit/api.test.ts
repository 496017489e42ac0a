// The local API over a real Unix socket: routes, errors as JSON with stable codes, limits, and that the
// server keeps serving after every kind of bad request. The system behind the routes is a small fake; the
// daemon's real system is exercised by the netns and daemon tests.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { promises as fs } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import pino from 'pino'
import { Counter, Registry } from 'prom-client'
import { ApiError } from '../../src/api/errors.js'
import { type ApiSystem, buildRoutes } from '../../src/api/routes.js'
import { ApiServer } from '../../src/api/server.js'
import { BlackroadClient, ClientError } from '../../src/client/index.js'

const LIMIT = 4096

function fakeSystem(): ApiSystem & { clusters: string[] } {
  const clusters: string[] = []
  return {
    clusters,
    status: () => ({
      node_id: 'node_test',
      name: 'n1',
      public_key: 'AAAA',
      cluster: { id: null, name: 'c1', region: 'r1', role: 'primary' },
      federation: null,
      version: '0.0.0',
      pid: process.pid,
      started_at: new Date(0).toISOString(),
      uptime_seconds: 1,
      peers: { total: 0, up: 0 },
      mesh: { state: 'standalone', ipv4: null, ipv6: null, interface: null },
      capabilities: ['api'],
    }),
    keys: () => ({ node_id: 'node_test', public_key: 'AAAA', fingerprint: 'SHA256:x' }),
    federationInit: async (req) => ({
      id: 'fed_x',
      name: req.name,
      root_fingerprint: 'SHA256:y',
      created_at: '',
    }),
    federationInfo: async () => {
      throw ApiError.conflict('NO_FEDERATION', 'none')
    },
    network: () => ({
      state: 'standalone',
      reason: 'test',
      interface: null,
      mesh_ipv4: null,
      mesh_ipv6: null,
      wg_public_key: null,
      discovery: null,
    }),
    peers: async () => [],
    routes: () => [],
    rotateKeys: async () => {
      throw ApiError.conflict('NOT_JOINED', 'test')
    },
    createCluster: async (req) => {
      if (clusters.includes(req.name)) throw ApiError.conflict('CLUSTER_EXISTS', 'exists')
      clusters.push(req.name)
      return {
        cluster: {
          id: 'cluster_abc',
          name: req.name,
          region: req.region,
          capacity: req.capacity,
          role: req.role ?? 'primary',
        },
        join_token: 'eyJ.x.y',
        expires_at: '',
        control_plane: [],
      }
    },
  }
}

interface Raw {
  status: number
  headers: http.IncomingHttpHeaders
  body: { error?: { code: string; message: string } } & Record<string, unknown>
}

function raw(
  socketPath: string,
  method: string,
  p: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const length: Record<string, string> =
      body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }
    const req = http.request(
      { socketPath, method, path: p, headers: { 'content-type': 'application/json', ...length, ...headers } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString()
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : {} })
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

describe('local API server', () => {
  let dir: string
  let sock: string
  let server: ApiServer
  let invalid: Counter<string>
  const registry = new Registry()

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'brapi-'))
    sock = path.join(dir, 'run', 'api.sock')
    invalid = new Counter({ name: 'inv', help: 'x', labelNames: ['code'], registers: [registry] })
    server = new ApiServer({
      socketPath: sock,
      mode: 0o660,
      maxBodyBytes: LIMIT,
      requestTimeoutMs: 5_000,
      logger: pino({ level: 'silent' }),
      invalidRequests: invalid,
    })
    for (const r of buildRoutes(fakeSystem())) server.add(r)
    await server.listen()
  })

  after(async () => {
    await server.close()
    await fs.rm(dir, { recursive: true, force: true })
  })

  test('socket is created with mode 0660', async () => {
    const st = await fs.stat(sock)
    assert.ok(st.isSocket())
    assert.equal(st.mode & 0o777, 0o660)
  })

  test('GET /v1/status through the typed client', async () => {
    const client = new BlackroadClient({ socketPath: sock })
    const s = await client.status()
    client.close()
    assert.equal(s.node_id, 'node_test')
    assert.equal(s.cluster.name, 'c1')
  })

  const badCases: Array<{
    name: string
    method: string
    path: string
    body?: string
    headers?: Record<string, string>
    status: number
    code: string
  }> = [
    {
      name: 'malformed JSON',
      method: 'POST',
      path: '/v1/federation/init',
      body: '{"name": ',
      status: 400,
      code: 'BAD_JSON',
    },
    {
      name: 'unknown field',
      method: 'POST',
      path: '/v1/federation/init',
      body: '{"name":"x","colour":"red"}',
      status: 400,
      code: 'UNKNOWN_FIELD',
    },
    {
      name: 'wrong type',
      method: 'POST',
      path: '/v1/federation/clusters',
      body: '{"name":"a","region":"r","capacity":"many"}',
      status: 400,
      code: 'INVALID_REQUEST',
    },
    {
      name: 'missing field',
      method: 'POST',
      path: '/v1/federation/clusters',
      body: '{"name":"a","region":"r"}',
      status: 400,
      code: 'INVALID_REQUEST',
    },
    {
      name: 'JSON array instead of object',
      method: 'POST',
      path: '/v1/federation/init',
      body: '[1,2]',
      status: 400,
      code: 'INVALID_REQUEST',
    },
    {
      name: 'oversize body',
      method: 'POST',
      path: '/v1/federation/init',
      body: `{"name":"${'x'.repeat(LIMIT)}"}`,
      status: 413,
      code: 'BODY_TOO_LARGE',
    },
    { name: 'unknown route', method: 'GET', path: '/v1/nope', status: 404, code: 'NOT_FOUND' },
    { name: 'wrong method', method: 'DELETE', path: '/v1/status', status: 405, code: 'METHOD_NOT_ALLOWED' },
    {
      name: 'body on a GET route',
      method: 'GET',
      path: '/v1/status',
      body: '{}',
      status: 400,
      code: 'INVALID_REQUEST',
    },
    {
      name: 'browser Origin header',
      method: 'GET',
      path: '/v1/status',
      headers: { origin: 'http://evil.example' },
      status: 403,
      code: 'FORBIDDEN',
    },
    {
      name: 'browser Referer header',
      method: 'GET',
      path: '/v1/status',
      headers: { referer: 'http://evil.example/' },
      status: 403,
      code: 'FORBIDDEN',
    },
    {
      name: 'wrong content type',
      method: 'POST',
      path: '/v1/federation/init',
      body: 'name=x',
      headers: { 'content-type': 'text/plain' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'conflict from the system',
      method: 'GET',
      path: '/v1/federation',
      status: 409,
      code: 'NO_FEDERATION',
    },
  ]

  for (const c of badCases) {
    test(`bad request: ${c.name} → ${c.status} ${c.code}, server keeps serving`, async () => {
      const before = (await invalid.get()).values.find((v) => v.labels.code === c.code)?.value ?? 0
      const r = await raw(sock, c.method, c.path, c.body, c.headers)
      assert.equal(r.status, c.status)
      assert.equal(r.body.error?.code, c.code)
      assert.ok(typeof r.body.error?.message === 'string' && r.body.error.message.length > 0)
      const afterCount = (await invalid.get()).values.find((v) => v.labels.code === c.code)?.value ?? 0
      assert.equal(afterCount, before + 1, 'invalid request counted')
      const ok = await raw(sock, 'GET', '/v1/status')
      assert.equal(ok.status, 200)
    })
  }

  test('405 carries an Allow header', async () => {
    const r = await raw(sock, 'PUT', '/v1/status', undefined)
    assert.equal(r.headers.allow, 'GET')
  })

  test('garbage on the socket gets a 400 and the server keeps serving', async () => {
    const reply = await new Promise<string>((resolve) => {
      const c = net.connect(sock)
      let data = ''
      c.on('data', (d) => (data += d.toString()))
      c.on('close', () => resolve(data))
      c.end('\x00\x01 not http at all\r\n\r\n')
    })
    assert.match(reply, /^HTTP\/1\.1 400/)
    assert.match(reply, /BAD_HTTP/)
    assert.equal((await raw(sock, 'GET', '/v1/status')).status, 200)
  })

  test('client surfaces the daemon error code', async () => {
    const client = new BlackroadClient({ socketPath: sock })
    await client.createCluster({ name: 'dup', region: 'r', capacity: 1 })
    await assert.rejects(client.createCluster({ name: 'dup', region: 'r', capacity: 1 }), (err: unknown) => {
      assert.ok(err instanceof ClientError)
      assert.equal(err.code, 'CLUSTER_EXISTS')
      assert.equal(err.status, 409)
      return true
    })
    client.close()
  })

  test('client reports a daemon that is not running', async () => {
    const client = new BlackroadClient({ socketPath: path.join(dir, 'missing.sock') })
    await assert.rejects(
      client.status(),
      (err: unknown) => err instanceof ClientError && err.code === 'DAEMON_NOT_RUNNING',
    )
    client.close()
  })

  test('500 concurrent connections are all answered', async () => {
    const results = await Promise.all(Array.from({ length: 500 }, () => raw(sock, 'GET', '/v1/status')))
    assert.ok(results.every((r) => r.status === 200))
  })
})

describe('local API socket lifecycle', () => {
  test('a live socket is refused, a stale one (crashed owner) is replaced, close removes it', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'brapi-'))
    const sock = path.join(dir, 'api.sock')
    const opts = {
      socketPath: sock,
      mode: 0o600,
      maxBodyBytes: 1024,
      requestTimeoutMs: 1000,
      logger: pino({ level: 'silent' }),
    }
    // Another process listens on the socket, then dies by SIGKILL and leaves the file behind.
    const owner = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(sock)}, () => console.log('up'))`,
    ])
    await new Promise<void>((resolve) => owner.stdout.once('data', () => resolve()))
    await assert.rejects(new ApiServer(opts).listen(), /already listening/)
    owner.kill('SIGKILL')
    await new Promise((resolve) => owner.once('exit', resolve))
    assert.ok((await fs.stat(sock)).isSocket(), 'stale socket file left behind')
    const server = new ApiServer(opts)
    await server.listen()
    assert.equal((await fs.stat(sock)).mode & 0o777, 0o600)
    await server.close()
    await assert.rejects(fs.stat(sock), { code: 'ENOENT' })
    await fs.rm(dir, { recursive: true, force: true })
  })
})
