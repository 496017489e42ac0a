// The single-replica control plane: commands apply in order, results and onApplied match, state survives a
// reopen from the state directory, and a rejected command changes nothing on disk. And the revocation gossip:
// a root-signed revocation is enforced, persisted and flooded once; forged and malformed frames are counted and
// dropped; a new neighbour receives everything known.

import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { LocalControlPlane, REGISTRY_FILE } from '../../src/control/local-control-plane.js'
import { RevocationGossip } from '../../src/control/revocation-gossip.js'
import {
  encodeRevocation,
  generateKeyPair,
  nodeIdFromPublicKey,
  RevocationSet,
  type SignedRevocation,
  signRevocation,
} from '../../src/identity/index.js'
import type { RegistryCommand } from '../../src/protocols/registry/index.js'

const fed = { id: 'fed_aaaaaaaaaaaaaaaa', name: 'lab', createdAt: 1 }
const cluster = {
  id: 'cluster_abc123',
  name: 'edge',
  region: 'local',
  role: 'edge' as const,
  capacity: { agents: 1, memoryMb: 0, gpu: 0 },
  labels: [],
  taints: [],
  cordoned: false,
}

test('local control plane: applies, notifies, persists and restores', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'brcp-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const cp = await LocalControlPlane.open(dir, 'node_a')
  const seen: string[] = []
  const off = cp.onApplied((cmd, res) => seen.push(`${cmd.type}:${res.ok ? 'ok' : res.code}`))
  assert.equal((await cp.propose({ type: 'addCluster', cluster })).ok, false, 'no federation yet')
  await assert.rejects(stat(path.join(dir, REGISTRY_FILE)), 'a rejected command writes nothing')
  const results = await Promise.all(
    (
      [
        { type: 'initFederation', federation: fed },
        { type: 'addCluster', cluster },
        { type: 'addCluster', cluster },
      ] as RegistryCommand[]
    ).map((c) => cp.propose(c)),
  )
  assert.deepEqual(
    results.map((r) => r.ok),
    [true, true, false],
  )
  assert.deepEqual(seen, [
    'addCluster:NO_FEDERATION',
    'initFederation:ok',
    'addCluster:ok',
    'addCluster:CLUSTER_EXISTS',
  ])
  off()
  assert.equal(cp.status().commitIndex, 4)
  assert.equal(cp.status().leader, 'node_a')
  const q = await cp.query({ type: 'clusters' })
  assert.equal(q.type === 'clusters' && q.clusters.length, 1)
  const mode = (await stat(path.join(dir, REGISTRY_FILE))).mode & 0o777
  assert.equal(mode, 0o600)
  await cp.close()
  await assert.rejects(cp.propose({ type: 'removeCluster', id: cluster.id }), /stopped/)

  const again = await LocalControlPlane.open(dir, 'node_a')
  assert.equal(again.local().federation?.id, fed.id)
  assert.equal(again.local().clusters.get(cluster.id)?.name, 'edge')
})

function gossipPair() {
  const root = generateKeyPair()
  const sent: Array<[string, Uint8Array]> = []
  const persisted: SignedRevocation[][] = []
  const revoked: string[] = []
  const registry = new Registry()
  const g = new RevocationGossip({
    set: new RevocationSet(root.publicKey),
    persist: async (list) => {
      persisted.push([...list])
    },
    send: (peer, frame) => sent.push([peer, frame]),
    peers: () => ['node_peer1', 'node_peer2'],
    onRevoked: (rev) => revoked.push(rev.nodeId),
    registry,
  })
  const count = async (result: string) =>
    (await registry.getSingleMetric('blackroad_revocation_frames_total')!.get()).values.find(
      (v) => v.labels.result === result,
    )?.value ?? 0
  return { root, g, sent, persisted, revoked, count }
}

test('revocation gossip: enforce, persist and flood once; forged and malformed are counted and dropped', async () => {
  const { root, g, sent, persisted, revoked, count } = gossipPair()
  const victim = nodeIdFromPublicKey(generateKeyPair().publicKey)
  const rev = signRevocation({ nodeId: victim, reason: 'stolen', revokedAt: 5 }, root)
  g.receive('node_peer1', encodeRevocation(rev))
  await g.flushed()
  assert.deepEqual(revoked, [victim])
  assert.deepEqual(
    sent.map(([p]) => p),
    ['node_peer2'],
    'passed on, not back to the sender',
  )
  assert.equal(persisted.length, 1)
  assert.equal(persisted[0]![0]!.nodeId, victim)
  g.receive('node_peer2', encodeRevocation(rev))
  assert.equal(sent.length, 1, 'a duplicate stops here: floods end')
  assert.equal(await count('duplicate'), 1)

  const forged = signRevocation(
    { nodeId: nodeIdFromPublicKey(generateKeyPair().publicKey), reason: 'x', revokedAt: 1 },
    generateKeyPair(),
  )
  g.receive('node_peer1', encodeRevocation(forged))
  g.receive('node_peer1', new Uint8Array([1, 2, 3]))
  assert.equal(await count('bad-signature'), 1)
  assert.equal(await count('malformed'), 1)
  assert.deepEqual(revoked, [victim], 'nothing else was cut off')

  g.syncTo('node_new')
  assert.deepEqual(
    sent.slice(1).map(([p]) => p),
    ['node_new'],
  )
  assert.equal(g.entries().length, 1)
})
