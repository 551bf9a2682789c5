import { runWidgets } from './widgets.js'

const variants: Array<[string, Parameters<typeof runWidgets>[0]]> = []
const base = {
  events: 600000,
  widgets: 20000,
  skew: 1.1,
  seed: 42,
  capacity: 50000,
  progress: false,
  progressLines: false,
}
for (const v of process.argv.slice(2)) {
  const [workers, roundMs] = v.split(':').map(Number)
  variants.push([
    v,
    { ...base, workers: workers as number, tuning: { roundMs: roundMs as number } },
  ])
}
for (const [name, options] of variants) {
  const s = await runWidgets(options)
  console.log(
    name,
    'steady',
    s.steadyEventsPerSec,
    'startup',
    s.startupMs,
    'cmds/ev',
    s.redisCommandsPerEvent?.toFixed(3),
    'cpu',
    s.cpu.map((c) => `${c.process.split(' ')[0]}=${c.cpuMicrosPerEvent.toFixed(1)}`).join(' '),
    'total',
    s.cpu.reduce((n, c) => n + c.cpuMicrosPerEvent, 0).toFixed(1),
    s.check,
  )
}
