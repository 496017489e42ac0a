// Our DNS server as a separate process for the benchmark: builds the bench data set into a MeshZone and serves it
// on the given address, exactly as the daemon would (same zone, same server class). Prints "listening" when ready
// and stops on SIGTERM/SIGINT.
//
//   node --import tsx bench/dns/serve.ts --listen 127.0.0.1:5353 --hosts 1000

import { Registry } from 'prom-client'
import { DnsServer } from '../../src/dns/server.js'
import { MeshZone } from '../../src/dns/zone.js'
import { benchView, benchZoneOptions } from './dataset.js'

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? process.argv[i + 1] : fallback
  if (v === undefined) {
    process.stderr.write(`serve: missing --${name}\n`)
    process.exit(64)
  }
  return v
}

async function main(): Promise<void> {
  const listen = arg('listen')
  const hosts = Number(arg('hosts', '1000'))
  const host = listen.slice(0, listen.lastIndexOf(':'))
  const zone = new MeshZone(benchZoneOptions(host), benchView({ hosts }))
  const server = new DnsServer({ zone, listen: [listen], registry: new Registry() })
  const bound = await server.start()
  process.stdout.write(
    `listening ${bound.map((b) => `${b.address}:${b.port}`).join(' ')} answers=${zone.answers.size} udp=${server.udpPaths.join(',')}\n`,
  )
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err) => {
  process.stderr.write(`serve: ${(err as Error).stack ?? err}\n`)
  process.exit(1)
})
