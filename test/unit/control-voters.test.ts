// Who runs which control-plane replica (src/daemon/control-plane.ts controlVoters): config voters for clusters
// set up by hand, else the voters a join learned, else — on a control-plane node that ran `federation init` —
// the node alone. A control-plane node that has neither founded nor joined runs nothing (it must never found a
// second cluster that a later join would split from the first), and join.json keeps the learned voters.

import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { parseConfig } from '../../src/config/index.js'
import { JOIN_FILE, readJoinHints } from '../../src/daemon/control-node.js'
import { controlVoters } from '../../src/daemon/control-plane.js'

const SELF = 'node_selfselfselfself'
const A = 'node_aaaaaaaaaaaaaaaa'
const B = 'node_bbbbbbbbbbbbbbbb'

function config(controlPlane: boolean, voters: string[] = []) {
  return parseConfig(
    [
      'node:',
      '  name: n',
      `  control_plane: ${controlPlane}`,
      ...(voters.length > 0 ? ['federation:', '  voters:', ...voters.map((v) => `    - ${v}`)] : []),
    ].join('\n'),
    'test.yaml',
  )
}

test('controlVoters: config voters, then learned voters, then the founder alone; otherwise nothing', () => {
  // Set up by hand: the list decides; a listed control-plane node votes, an unlisted one asks to.
  assert.deepEqual(controlVoters(config(true, [SELF, A]), SELF), { voters: [SELF, A], wantsVote: false })
  assert.deepEqual(controlVoters(config(true, [A, B]), SELF), { voters: [A, B], wantsVote: true })
  assert.deepEqual(controlVoters(config(false, [A, B]), SELF), { voters: [A, B], wantsVote: false })
  // Joined a Raft control plane: follow its voters, asking to vote on a control-plane node.
  assert.deepEqual(controlVoters(config(true), SELF, [A]), { voters: [A], wantsVote: true })
  assert.deepEqual(controlVoters(config(false), SELF, [A, B]), { voters: [A, B], wantsVote: false })
  // Config voters win over learned ones.
  assert.deepEqual(controlVoters(config(false, [B]), SELF, [A]), { voters: [B], wantsVote: false })
  // The founder of a federation (root key holder) with nothing else: a single voter of its own.
  assert.deepEqual(controlVoters(config(true), SELF, [], true), { voters: [SELF], wantsVote: false })
  // A joined founder cannot happen, but learned voters would still win over founding a second cluster.
  assert.deepEqual(controlVoters(config(true), SELF, [A], true), { voters: [A], wantsVote: true })
  // Neither founded nor joined: nothing yet, control-plane node or not.
  assert.equal(controlVoters(config(true), SELF), null)
  assert.equal(controlVoters(config(false), SELF, [], true), null)
  assert.equal(controlVoters(config(false), SELF), null)
})

test('join.json keeps the learned voters; an older one without them reads as none', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'join-hints-'))
  try {
    assert.deepEqual(await readJoinHints(dir), {
      control_plane: [],
      bootstrap: [],
      static_peers: [],
      voters: [],
    })
    const hints = { control_plane: ['10.0.0.1:7443'], bootstrap: [], static_peers: [] }
    await writeFile(path.join(dir, JOIN_FILE), JSON.stringify(hints))
    assert.deepEqual(await readJoinHints(dir), { ...hints, voters: [] })
    await writeFile(path.join(dir, JOIN_FILE), JSON.stringify({ ...hints, voters: [A, B, 7] }))
    assert.deepEqual((await readJoinHints(dir)).voters, [A, B])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
