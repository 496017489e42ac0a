// A small etcd v3 client for the `raft` bench, run inside a lab namespace (`node etcd-client.js <mode> ...`):
// it speaks etcd's JSON gateway over HTTP/1.1 with keep-alive, the same request shape as our local API.
//   seq <url> <n>                  n sequential puts; prints {"lat":[ms...]}
//   conc <url> <n> <c>             n puts, c in flight; prints {"ms": elapsed}
//   failover <old> <url,url> <n>   prints "ready", then the epoch ms when a survivor names a leader other
//                                  than <old> and when a put then succeeds: {"elected":t,"write":t}
// Every loop is bounded in count and in time (60 s).

import http from 'node:http'

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
const DEADLINE = Date.now() + 60_000

function post(url: string, path: string, body: unknown, timeoutMs = 2000): Promise<Record<string, unknown>> {
  const u = new URL(path, url)
  const data = Buffer.from(JSON.stringify(body))
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        agent,
        timeout: timeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': data.length },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`))
          else resolve(JSON.parse(text) as Record<string, unknown>)
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(data)
  })
}

const b64 = (s: string) => Buffer.from(s).toString('base64')
const put = (url: string, key: string) =>
  post(url, '/v3/kv/put', { key: b64(key), value: b64('x'.repeat(32)) })

async function main(): Promise<void> {
  const [mode, a, b, c] = process.argv.slice(2)
  if (mode === 'seq') {
    const lat: number[] = []
    for (let i = 0; i < Number(b) && Date.now() < DEADLINE; i++) {
      const t0 = performance.now()
      await put(a!, `seq-${i}`)
      lat.push(performance.now() - t0)
    }
    process.stdout.write(`${JSON.stringify({ lat })}\n`)
  } else if (mode === 'conc') {
    const n = Number(b)
    let next = 0
    const t0 = performance.now()
    const worker = async () => {
      while (next < n && Date.now() < DEADLINE) {
        const i = next++
        await put(a!, `conc-${i}`)
      }
    }
    await Promise.all(Array.from({ length: Number(c) }, worker))
    process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0, done: next })}\n`)
  } else if (mode === 'failover') {
    const old = a!
    const urls = b!.split(',')
    process.stdout.write('ready\n')
    let elected = 0
    let leaderUrl = ''
    while (elected === 0 && Date.now() < DEADLINE) {
      for (const u of urls) {
        try {
          const st = await post(u, '/v3/maintenance/status', {}, 200)
          const leader = String(st.leader ?? '0')
          const self = String((st.header as { member_id?: string } | undefined)?.member_id ?? '')
          if (leader !== '0' && leader !== old) {
            elected = Date.now()
            leaderUrl = leader === self ? u : (urls.find((x) => x !== u) ?? u)
            break
          }
        } catch {
          // the survivor is busy electing; ask again
        }
      }
      if (elected === 0) await new Promise((r) => setTimeout(r, 10))
    }
    let write = 0
    for (let i = 0; i < 1000 && write === 0 && Date.now() < DEADLINE; i++) {
      try {
        await put(leaderUrl || urls[0]!, `after-${i}`)
        write = Date.now()
      } catch {
        await new Promise((r) => setTimeout(r, 10))
      }
    }
    process.stdout.write(`${JSON.stringify({ elected, write, n: c })}\n`)
  } else if (mode === 'status') {
    const st = await post(a!, '/v3/maintenance/status', {})
    process.stdout.write(
      `${JSON.stringify({ leader: String(st.leader), self: String((st.header as { member_id?: string }).member_id) })}\n`,
    )
  } else throw new Error(`unknown mode ${mode}`)
  agent.destroy()
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).message}\n`)
  process.exit(1)
})
