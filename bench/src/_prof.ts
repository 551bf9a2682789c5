import { Codec, defineModel, id, sum } from '@phonon/core'
import { connect } from '@phonon/redis-shard'
const Widget = defineModel('Widget', { id: id(), clicks: sum(), impressions: sum() })
const shard = await connect({ nodes: [process.argv[2] as string], codec: new Codec([Widget]), heartbeatMs: 0, namespace: `p${Math.random()}` })
const n = 50000, depth = 64
const updates = Array.from({ length: n }, (_, i) => Widget.create({ id: `w${i % 10000}`, clicks: 1, impressions: 3 }))
const holds = []
for (let i = 0; i < n; i += 1000) holds.push(...(await shard.acquireMany(updates.slice(i, i + 1000))))
let t = performance.now()
const lanes = Number(process.argv[3] ?? 8)
let next = 0
await Promise.all(Array.from({ length: lanes }, async () => {
  for (let i = (next += depth) - depth; i < n; i = (next += depth) - depth) {
    const results = await shard.releaseMany(holds.slice(i, i + depth).map((h, j) => [h, updates[i + j]] as const))
    const claims = results.flatMap((r) => (r.last ? [r.claim] : []))
    if (claims.length) await shard.completeMany(claims)
  }
}))
console.log('releases/s', Math.round(n / ((performance.now() - t) / 1000)))
await shard.close()
