import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { defineStreams, loadConfig, parseConfig, StreamConfigError } from '../src/index.js'

describe('config', () => {
  test('YAML maps logical names to typed definitions, with defaults', () => {
    const config = parseConfig(`
test_stream:
  name: prod-test
  partition_key: user_id
  region: us-west-2
clicks:
  name: clicks
  partition_key: widget
  shards: 16
  retention_hours: 2
`)
    expect(config.get('test_stream')).toEqual({
      logical: 'test_stream',
      name: 'prod-test',
      partitionKey: 'user_id',
      shards: 4,
      backend: 'redis',
      retentionMs: 24 * 3_600_000,
      maxRecordBytes: 1 << 20,
      region: 'us-west-2',
    })
    expect(config.get('clicks')?.shards).toBe(16)
    expect(config.get('clicks')?.retentionMs).toBe(2 * 3_600_000)
  })

  test('the same definitions from code', () => {
    const config = defineStreams({ clicks: { name: 'clicks', partitionKey: 'widget' } })
    expect(config.get('clicks')?.partitionKey).toBe('widget')
  })

  test('errors name the file, the stream and the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'streams-config-'))
    const file = join(dir, 'streams.yaml')
    writeFileSync(file, 'clicks:\n  name: clicks\n  partition_key: widget\n  shards: 0\n')
    expect(() => loadConfig(file)).toThrow(
      new StreamConfigError(
        `${file}: stream clicks: shards must be an integer from 1 to 1024, got 0`,
      ),
    )
    expect(() => parseConfig('a:\n  name: a\n', 'f.yaml')).toThrow(
      /^f\.yaml: stream a: partition_key must be a field name, got undefined$/,
    )
    expect(() =>
      parseConfig('a:\n  name: a\n  partition_key: k\n  colour: red\n', 'f.yaml'),
    ).toThrow('f.yaml: stream a: unknown field colour')
    expect(() => parseConfig('a: [1\n', 'f.yaml')).toThrow(/^f\.yaml: /)
    expect(() => parseConfig('- 1\n', 'f.yaml')).toThrow(
      'f.yaml: expected a mapping of stream names',
    )
    expect(() => loadConfig(join(dir, 'missing.yaml'))).toThrow(/missing\.yaml: cannot read it/)
    expect(() => defineStreams({ a: { name: 'a b', partitionKey: 'k' } })).toThrow(
      StreamConfigError,
    )
  })
})
