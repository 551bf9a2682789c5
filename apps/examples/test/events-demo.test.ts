import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { expect, it } from 'vitest'

it('logs the seed’s events in one process and prints them in another', () => {
  const output = execFileSync(
    process.execPath,
    ['--import', 'tsx', '--conditions=@phonon/source', 'src/events-demo.ts'],
    { cwd: join(import.meta.dirname, '..'), encoding: 'utf8' },
  )
  const lines = output.trim().split('\n')
  const producer = lines.filter((line) => line.startsWith('producer: '))
  const consumer = lines.filter((line) => line.startsWith('consumer '))
  expect(producer.map((line) => line.replace(/#\d+/, '#n'))).toEqual([
    'producer: logged event_1 #n: "a message"',
    'producer: logged user.bought_shirt #n: {"user":"gordon","quantity":2}',
    'producer: logged user.signed_up #n: {"email":"gordon@black-mesa.org","domain":"black-mesa.org"}',
    'producer: refused: user.signed_up needs an email, got {"email":"nobody"}',
    'producer: logged event_1 #n: "another message"',
  ])
  const pids = new Set(consumer.map((line) => /pid (\d+)/.exec(line)?.[1]))
  expect(pids.size).toBe(1)
  expect(pids.has(String(process.pid))).toBe(false)
  expect(consumer.map((line) => line.replace(/^consumer \(pid \d+\): /, ''))).toEqual([
    'event_1 #1 "a message"',
    'user.bought_shirt #2 {"user":"gordon","quantity":2}',
    'user.signed_up #3 {"email":"gordon@black-mesa.org","domain":"black-mesa.org"}',
    'event_1 #4 "another message"',
  ])
}, 120_000)
