// pingpong under every fault the simulator has, for many seeds: sequence numbers are never reused across
// crashes, pongs only answer pings that were sent, and once the network is stabilized every node hears
// from every other within a bound. The first protocol on the simulator, and the proof that it works.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SeededRng } from '../../src/protocols/core/index.js'
import { pingPongDurableCodec, pingPongMessageCodec, pingpong } from '../../src/protocols/pingpong/index.js'
import { DecodeError, decodeWith, encodeWith } from '../../src/wire/index.js'
import { forSeeds, runSim, type SimStats, swarm } from './lib/index.js'
import {
  everyoneHeardFromEveryone,
  pingPongGhost,
  pingPongInvariants,
  recordPingPong,
} from './lib/pingpong-checks.js'

const INTERVAL = 100

test('pingpong: no sequence number reused, pongs only for pings sent, live after heal (swarm faults)', (t) => {
  const totals = { crashes: 0, tornCrashes: 0, partitions: 0, pauses: 0, droppedLoss: 0, steps: 0 }
  const run = forSeeds(500, (seed) => {
    const stats: SimStats = runSim({
      seed,
      nodes: new SeededRng(seed).int(2, 6),
      protocol: pingpong({ interval: INTERVAL }),
      faults: swarm({ unit: INTERVAL }),
      until: 10_000,
      ghost: pingPongGhost(),
      record: recordPingPong,
      invariants: pingPongInvariants,
      liveness: {
        within: 20 * INTERVAL,
        until: everyoneHeardFromEveryone,
        what: 'every node hears a pong from every other',
      },
    })
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += stats[k]
  })
  t.diagnostic(
    `${run.seeds.length} seeds in ${run.ms.toFixed(0)}ms (${run.perSecond.toFixed(0)} seeds/s); ${JSON.stringify(totals)}`,
  )
  // Guard against a vacuous pass: across the seeds the faults must really have happened.
  if (run.seeds.length >= 100) {
    assert.ok(totals.crashes > 50 && totals.tornCrashes > 5 && totals.partitions > 50 && totals.pauses > 50)
  }
})

test('pingpong: its codecs round-trip and reject bad bytes with DecodeError', () => {
  for (const msg of [
    { type: 'ping', seq: 0 },
    { type: 'pong', seq: 2 ** 53 - 1 },
  ] as const) {
    assert.deepEqual(decodeWith(pingPongMessageCodec, encodeWith(pingPongMessageCodec, msg)), msg)
  }
  const durable = { highestSent: 123456 }
  assert.deepEqual(decodeWith(pingPongDurableCodec, encodeWith(pingPongDurableCodec, durable)), durable)
  for (const bad of [[], [3, 1], [1], [1, 1, 0], [2, 0x80]]) {
    assert.throws(() => decodeWith(pingPongMessageCodec, Uint8Array.from(bad)), DecodeError)
  }
  assert.throws(() => decodeWith(pingPongDurableCodec, Uint8Array.from([2, 1])), DecodeError)
})
