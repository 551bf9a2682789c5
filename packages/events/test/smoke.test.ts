import { beforeAll, describe, expect, it } from 'vitest'
import { Consumer, createConsumerManager, createEventManager, type StoredEvent } from '../src/index.js'
import { backends, sharedPGlite } from './stores.js'

beforeAll(() => sharedPGlite(), 60_000)

class Recorder extends Consumer {
  seen: StoredEvent[] = []
  override consume(event: StoredEvent) {
    this.seen.push(event)
  }
}

describe.each(backends)('%s smoke', (_, open) => {
  it('logs and consumes', async () => {
    const { store, drop } = await open()
    try {
      const manager = createEventManager({ store })
      await manager.log('event_1', 'a message')
      await manager.log('user.bought_shirt', { user: 'gordon', quantity: 2 })
      const consumers = createConsumerManager({ store })
      const rec = new Recorder()
      await consumers.register([['event_1', rec], ['user.bought_shirt', rec]])
      expect(await consumers.consumeOnce()).toBe(2)
      expect(rec.seen.map((e) => e.name)).toEqual(['event_1', 'user.bought_shirt'])
      expect(await consumers.consumeOnce()).toBe(0)
      expect(await consumers.lag()).toEqual([{ consumer: 'Recorder', events: 0, oldestMs: 0 }])
    } finally {
      await drop()
    }
  })
})
