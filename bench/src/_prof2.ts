import { Codec, defineModel, id, sum } from '@phonon/core'
import { connect } from '@phonon/redis-shard'
import { Redis } from 'ioredis'
const Widget = defineModel('Widget', { id: id(), clicks: sum(), impressions: sum() })
const url = process.argv[2] as string
const admin = new Redis(url)
const shard = await connect({ nodes: [url], codec: new Codec([Widget]), heartbeatMs: 0, namespace: `p${Math.random()}` })
const n = 50000, depth = 64
const updates = Array.from({ length: n }, (_, i) => Widget.create({ id: `w${i % 10000}`, clicks: 1, impressions: 3 }))
const holds = []
await admin.config('RESETSTAT')
for (let i = 0; i < n; i += 1000) holds.push(...(await shard.acquireMany(updates.slice(i, i + 1000))))
console.log('acquire', (await admin.info('commandstats')).match(/evalsha:.*usec_per_call=([\d.]+)/)?.[0])
await admin.config('RESETSTAT')
for (let i = 0; i < n - 10000; i += depth) await shard.releaseMany(holds.slice(i, Math.min(i + depth, n - 10000)).map((h, j) => [h, updates[i + j]] as const))
console.log('release (not last)', (await admin.info('commandstats')).match(/evalsha:.*usec_per_call=([\d.]+)/)?.[0])
await admin.config('RESETSTAT')
const claims = []
for (let i = n - 10000; i < n; i += depth) { const r = await shard.releaseMany(holds.slice(i, i + depth).map((h, j) => [h, updates[i + j]] as const)); claims.push(...r.flatMap((x) => (x.last ? [x.claim] : []))) }
console.log('release (last)', (await admin.info('commandstats')).match(/evalsha:.*usec_per_call=([\d.]+)/)?.[0], claims.length)
await admin.config('RESETSTAT')
for (let i = 0; i < claims.length; i += depth) await shard.completeMany(claims.slice(i, i + depth))
console.log('complete', (await admin.info('commandstats')).match(/evalsha:.*usec_per_call=([\d.]+)/)?.[0])
await shard.close(); await admin.quit()
