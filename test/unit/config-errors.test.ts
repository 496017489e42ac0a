// Config errors: each kind points at the exact file:line:column and field path, all problems are collected at
// once, unknown keys get a suggestion, and no input makes the loader throw anything but a ConfigError.

import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { ConfigError, type ConfigProblem, loadConfig, parseConfig } from '../../src/config/index.js'

const FILE = '/etc/blackroad/config.yaml'

/** Parses text that must fail and returns the error. */
function fail(text: string): ConfigError {
  try {
    parseConfig(text, FILE)
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`)
    return err
  }
  assert.fail('config was accepted')
}

function only(text: string): ConfigProblem {
  const err = fail(text)
  assert.equal(err.problems.length, 1, err.message)
  return err.problems[0] as ConfigProblem
}

function assertAt(p: ConfigProblem, line: number, column: number, fieldPath: string, message: RegExp): void {
  assert.deepEqual(
    { line: p.line, column: p.column, path: p.path },
    { line, column, path: fieldPath },
    p.message,
  )
  assert.match(p.message, message)
  assert.equal(p.file, FILE)
}

describe('config errors', () => {
  it('bad YAML syntax is CONFIG_YAML at the offending position', () => {
    const err = fail('node:\n  name: a\n  labels: {tier: prod\n')
    assert.equal(err.code, 'CONFIG_YAML')
    const p = err.problems[0] as ConfigProblem
    assert.equal(p.path, '')
    assert.equal(p.line, 4)
    assert.match(p.message, /^invalid YAML: /)
    assert.match(err.message, /^\/etc\/blackroad\/config\.yaml:4:\d+: invalid YAML/)
  })

  it('duplicate keys are a YAML error', () => {
    const err = fail('wireguard:\n  mtu: 1400\n  mtu: 1420\n')
    assert.equal(err.code, 'CONFIG_YAML')
    assert.equal(err.problems[0]?.line, 3)
    assert.equal(err.problems[0]?.column, 3)
  })

  it('a wrong type names the field and what was expected', () => {
    const p = only('wireguard:\n  listen_port: "51820"\n')
    assertAt(p, 2, 16, 'wireguard.listen_port', /expected a number, got the string "51820"/)
  })

  it('an out-of-range value gives the bound', () => {
    assertAt(only('wireguard:\n  listen_port: 70000\n'), 2, 16, 'wireguard.listen_port', /must be <= 65535/)
    assertAt(only('wireguard:\n  mtu: 576\n'), 2, 8, 'wireguard.mtu', /must be >= 1280/)
  })

  it('an unknown key points at the key and suggests the closest known one', () => {
    const p = only('wireguard:\n  listen_prot: 51820\n')
    assertAt(p, 2, 3, 'wireguard.listen_prot', /unknown key "listen_prot"; did you mean "listen_port"\?/)
  })

  it('an unknown section is rejected at the top level too', () => {
    const p = only('# comment\nwireguards:\n  mtu: 1420\n')
    assertAt(p, 2, 1, 'wireguards', /did you mean "wireguard"\?/)
  })

  it('an unknown key far from any known key lists what is allowed', () => {
    const p = only('metrics:\n  zzzzzzzz: 1\n')
    assertAt(p, 2, 3, 'metrics.zzzzzzzz', /expected one of: enabled, listen/)
  })

  it('unknown keys are caught in nested objects and list items', () => {
    const p = only(
      'mesh:\n  policies:\n    - name: a\n      source: agent/*\n      destination: agent/*\n      alow: true\n',
    )
    assertAt(p, 6, 7, 'mesh.policies.0.alow', /did you mean "allow"\?/)
  })

  it('a bad duration names the field', () => {
    assertAt(only('network:\n  probe_interval: 200 ms\n'), 2, 19, 'network.probe_interval', /not a duration/)
  })

  it('busy_poll_us takes "auto" or whole microseconds up to 10000, and says what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['fast', /expected "auto" or a number of microseconds/],
      ['-1', /must be >= 0, got number -1/],
      ['20000', /must be <= 10000, got number 20000/],
      ['2.5', /expected "auto" or microseconds, got number 2.5/],
    ]
    for (const [bad, message] of cases) {
      assertAt(only(`network:\n  busy_poll_us: ${bad}\n`), 2, 17, 'network.busy_poll_us', message)
    }
    assert.equal(parseConfig('network:\n  busy_poll_us: 0\n', FILE).network.busy_poll_us, 0)
    assert.equal(parseConfig('network:\n  busy_poll_us: 500\n', FILE).network.busy_poll_us, 500)
  })

  it('a bare number for a duration is an error with a hint', () => {
    const p = only('api:\n  request_timeout: 30\n')
    assertAt(p, 2, 20, 'api.request_timeout', /bare number 30; write "30s" or "30ms"/)
  })

  it('a missing required field points at the parent mapping', () => {
    const p = only('cluster:\n  taints:\n    - key: gpu-only\n      value: "true"\n')
    assertAt(p, 3, 7, 'cluster.taints.0.effect', /missing required field "effect"/)
  })

  it('an invalid enum value suggests the nearest option', () => {
    assertAt(
      only('node:\n  role: wroker\n'),
      2,
      9,
      'node.role',
      /expected one of .*"worker".*did you mean "worker"\?/,
    )
  })

  it('a bad interface name and a bad host:port are explained', () => {
    assertAt(
      only('wireguard:\n  interface: this-name-is-too-long\n'),
      2,
      14,
      'wireguard.interface',
      /1-15 characters/,
    )
    assertAt(
      only('discovery:\n  bootstrap:\n    - 10.0.0.1\n'),
      3,
      7,
      'discovery.bootstrap.0',
      /expected "host:port"/,
    )
    assertAt(
      only('discovery:\n  static_peers: ["a.lan:0"]\n'),
      2,
      18,
      'discovery.static_peers.0',
      /out of range/,
    )
  })

  it('a top level that is not a mapping is rejected', () => {
    const err = fail('- node\n- cluster\n')
    assert.equal(err.code, 'CONFIG_INVALID')
    assertAt(err.problems[0] as ConfigProblem, 1, 1, '', /expected a mapping of sections/)
  })

  it('collects every problem of the file, in file order, in one error', () => {
    const text = [
      'node:',
      '  role: boss', // 2
      'wireguard:',
      '  listen_port: -1', // 4
      '  mtux: 1420', // 5
      'network:',
      '  probe_interval: fast', // 7
      'dns:',
      '  ttl:',
      '    node: "60"', // 10
      '',
    ].join('\n')
    const err = fail(text)
    assert.equal(err.code, 'CONFIG_INVALID')
    assert.deepEqual(
      err.problems.map((p) => [p.line, p.column, p.path]),
      [
        [2, 9, 'node.role'],
        [4, 16, 'wireguard.listen_port'],
        [5, 3, 'wireguard.mtux'],
        [7, 19, 'network.probe_interval'],
        [10, 11, 'dns.ttl.node'],
      ],
    )
    assert.match(err.message, /^5 problems in \/etc\/blackroad\/config\.yaml:\n/)
    assert.match(
      err.message,
      /\/etc\/blackroad\/config\.yaml:5:3: wireguard\.mtux: unknown key "mtux"; did you mean "mtu"\?/,
    )
  })

  it('cross-field rules name the field to change', () => {
    assertAt(
      only('network:\n  probe_interval: 1s\n  dead_link_timeout: 1s\n'),
      3,
      22,
      'network.dead_link_timeout',
      /at least twice probe_interval/,
    )
    assertAt(
      only('network:\n  probe_interval: 1s\n  watch_probe_interval: 500ms\n  dead_link_timeout: 2s\n'),
      3,
      25,
      'network.watch_probe_interval',
      /must be at least probe_interval \(1000ms\)/,
    )
    assertAt(
      only('replication:\n  memory:\n    episodic:\n      consistency: strong\n'),
      4,
      20,
      'replication.memory.episodic.consistency',
      /use sync_replicate or geo_replicate/,
    )
    assertAt(
      only('wireguard:\n  key_rotation: 12h\nmesh:\n  encryption:\n    key_rotation: 24h\n'),
      5,
      19,
      'mesh.encryption.key_rotation',
      /conflicts with wireguard\.key_rotation \(12h\)/,
    )
  })

  it('a billion-laughs alias bomb is refused, not expanded', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for (let i = 1; i < 10; i++)
      lines.push(
        `${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(9)
          .fill(`*${'abcdefghij'[i - 1]}`)
          .join(',')}]`,
      )
    const err = fail(lines.join('\n'))
    assert.ok(err.code === 'CONFIG_YAML' || err.code === 'CONFIG_INVALID', err.code)
  })
})

describe('loadConfig file errors', () => {
  let dir = ''
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'blackroad-config-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('a missing file is CONFIG_NOT_FOUND naming the path', async () => {
    const file = path.join(dir, 'nope.yaml')
    await assert.rejects(loadConfig(file), (err: unknown) => {
      assert.ok(err instanceof ConfigError)
      assert.equal(err.code, 'CONFIG_NOT_FOUND')
      assert.match(
        err.message,
        new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: config file does not exist`),
      )
      return true
    })
  })

  it('a directory is CONFIG_UNREADABLE', async () => {
    await assert.rejects(
      loadConfig(dir),
      (err: unknown) => err instanceof ConfigError && err.code === 'CONFIG_UNREADABLE',
    )
  })

  it('bytes that are not UTF-8 are CONFIG_UNREADABLE', async () => {
    const file = path.join(dir, 'latin1.yaml')
    await writeFile(file, Buffer.from([0x6e, 0x6f, 0x64, 0x65, 0x3a, 0x0a, 0xff, 0xfe]))
    await assert.rejects(
      loadConfig(file),
      (err: unknown) => err instanceof ConfigError && err.code === 'CONFIG_UNREADABLE',
    )
  })

  it('problems carry the path the file was loaded from', async () => {
    const file = path.join(dir, 'bad.yaml')
    await writeFile(file, 'logging:\n  level: loud\n')
    await assert.rejects(loadConfig(file), (err: unknown) => {
      assert.ok(err instanceof ConfigError)
      assert.deepEqual(
        err.problems.map((p) => [p.file, p.line, p.column, p.path]),
        [[file, 2, 10, 'logging.level']],
      )
      return true
    })
  })
})

describe('parseConfig on arbitrary input', () => {
  const fragments = [
    'node:',
    'cluster:',
    'wireguard:',
    'api:',
    'mode:',
    'dns:',
    'listen:',
    '- ',
    '  ',
    '\n',
    '&a ',
    '*a',
    '!!int ',
    '!!binary ',
    '"',
    "'",
    '{',
    '}',
    '[',
    ']',
    ':',
    '0660',
    '30s',
    '1h30m',
    '-1',
    '.inf',
    '~',
    'null',
    'true',
    '__proto__:',
    'constructor:',
    '? ',
    '#',
    '---',
    '...',
    '%YAML 1.1\n',
    'taints:',
    'key: a',
    'regions:',
    '{same_region: 1}',
  ]
  const yamlish = fc.array(fc.constantFrom(...fragments), { maxLength: 40 }).map((xs) => xs.join(''))

  it('throws nothing but ConfigError, for YAML-like and random text, and prints no warnings', () => {
    // The yaml package warns on stderr for keys it must stringify; a daemon's config loader should not.
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.message)
    process.on('warning', onWarning)
    after(() => process.off('warning', onWarning))
    fc.assert(
      fc.property(
        fc.oneof(yamlish, fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 })),
        (text) => {
          try {
            parseConfig(text, 'fuzz.yaml')
          } catch (err) {
            if (!(err instanceof ConfigError)) throw err
            assert.ok(err.problems.length > 0)
            for (const p of err.problems) {
              assert.ok(Number.isInteger(p.line) && p.line >= 1, `line ${p.line}`)
              assert.ok(Number.isInteger(p.column) && p.column >= 1, `column ${p.column}`)
            }
          }
        },
      ),
      { numRuns: 3000 },
    )
    assert.deepEqual(warnings, [])
  })
})
