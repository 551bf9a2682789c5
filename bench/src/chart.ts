/**
 * The sweep's chart, hand-written SVG (no charting dependency): two panels sharing a logarithmic
 * x axis of LRU sizes, one line per Zipf skew — events/s on top (logarithmic, with each skew's
 * core-merge baseline dashed), evictions per event below (linear, 0 to 1): the eviction-ratio
 * curve.
 *
 * Every point, tick and line carries `data-*` attributes (the value it stands for), so a test can
 * check the drawing against the data without reading pixels.
 *
 * @module
 */

/** One point of bench/results/sweep.json, as far as the chart reads it. */
export interface SweepPoint {
  readonly skew: number
  readonly max: number
  readonly steadyEventsPerSec: number
  readonly evictionsPerEvent: number
  readonly hitRatio: number
  /** False when the LRU was not full when the measurement started. */
  readonly fullAtStart?: boolean
}

/** bench/results/sweep.json, as far as the chart reads it. */
export interface SweepResult {
  readonly date: string
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly node: string }
  readonly workload: {
    readonly events: number
    readonly keys: number
    readonly redis?: string
  }
  readonly baselines?: {
    readonly coreMergeEventsPerSec?: Readonly<Record<string, number>>
    /** One HINCRBY per event, per skew: what a user writes without phonon. */
    readonly perEventHincrbyEventsPerSec?: Readonly<Record<string, number>>
  }
  readonly points: readonly SweepPoint[]
}

/** Colours of the skews' lines (Okabe–Ito, readable by colour-blind readers). */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000']

const WIDTH = 800
const HEIGHT = 640
/** The plot area of both panels, horizontally. */
const LEFT = 90
const RIGHT = 570
/** The top panel (events/s) and the bottom one (evictions per event), vertically. */
const TOP_PANEL = { top: 94, bottom: 334 }
const BOTTOM_PANEL = { top: 410, bottom: 580 }

/** Escapes text for an XML text node or attribute. */
export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
}

/** A number in SVG coordinates: two decimals at most. */
const px = (n: number) => String(Math.round(n * 100) / 100)

/** `1000` → `1k`, `2500000` → `2.5M`. */
export function shortNumber(n: number): string {
  const [divisor, suffix] = n >= 1e6 ? [1e6, 'M'] : n >= 1e3 ? [1e3, 'k'] : [1, '']
  return `${Number((n / divisor).toPrecision(3))}${suffix}`
}

/** A logarithmic scale from `[lo, hi]` (values > 0) onto `[from, to]` (pixels). */
function logScale(lo: number, hi: number, from: number, to: number) {
  const a = Math.log10(lo)
  const b = Math.log10(hi)
  return (v: number) => from + ((Math.log10(v) - a) / (b - a || 1)) * (to - from)
}

/**
 * The power of ten at or below `v` (> 0). `Math.log10` rounds values just under a power of ten up
 * to it (log10(99999999.99999999) is 8), so the estimate is checked against `v`.
 */
function decadeOf(v: number): number {
  const decade = 10 ** Math.floor(Math.log10(v))
  return decade > v ? decade / 10 : decade
}

/** Ticks 1, 2, 5 × each power of ten within `[lo, hi]`. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = []
  for (let decade = decadeOf(lo); decade <= hi; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const t = m * decade
      if (t >= lo && t <= hi) ticks.push(t)
    }
  }
  return ticks
}

/** The 1-2-5 numbers just below `lo` and just above `hi` (both > 0). */
function niceLogRange(lo: number, hi: number): [number, number] {
  const steps = (v: number) => [1, 2, 5, 10].map((m) => m * decadeOf(v))
  const below = steps(lo).filter((t) => t <= lo)
  const above = steps(hi).filter((t) => t >= hi)
  const from = below.at(-1) ?? lo
  const to = above[0] ?? hi
  return [from, to > from ? to : from * 10]
}

/**
 * Draws the sweep.
 *
 * @param sweep - bench/results/sweep.json.
 * @returns a standalone SVG document.
 * @throws RangeError when the sweep has no points.
 */
export function sweepChart(sweep: SweepResult): string {
  const points = sweep.points
  if (points.length === 0) throw new RangeError('the sweep has no points')
  const skews = [...new Set(points.map((p) => p.skew))].sort((a, b) => a - b)
  const sizes = [...new Set(points.map((p) => p.max))].sort((a, b) => a - b)
  const colour = (skew: number) => COLOURS[skews.indexOf(skew) % COLOURS.length] as string
  const core = sweep.baselines?.coreMergeEventsPerSec ?? {}
  const perEvent = sweep.baselines?.perEventHincrbyEventsPerSec ?? {}

  // x: LRU sizes, logarithmic, half a step of margin on each side.
  const [minSize, maxSize] = [sizes[0] as number, sizes.at(-1) as number]
  const margin = sizes.length > 1 ? (maxSize / minSize) ** (0.5 / (sizes.length - 1)) : 2
  const x = logScale(minSize / margin, maxSize * margin, LEFT, RIGHT)

  // Top y: events/s, logarithmic, from the 1-2-5 tick below the points and baselines to the one
  // above them.
  const rates = [
    ...points.map((p) => p.steadyEventsPerSec),
    ...Object.values(core),
    ...Object.values(perEvent),
  ]
  const [rateLo, rateHi] = niceLogRange(Math.min(...rates), Math.max(...rates))
  const yRate = logScale(rateLo, rateHi, TOP_PANEL.bottom, TOP_PANEL.top)
  // Bottom y: evictions per event, 0 to 1.
  const yEvict = (v: number) => BOTTOM_PANEL.bottom - v * (BOTTOM_PANEL.bottom - BOTTOM_PANEL.top)

  const out: string[] = []
  const machine = sweep.machine
  out.push(
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>Eviction-ratio curve: events/s and evictions per event vs. LRU size, per Zipf skew</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="26" font-size="16" font-weight="bold">The eviction-ratio curve: one lru-update worker on a private redis-server</text>`,
    `<text x="${LEFT}" y="44" fill="#444444">${escapeXml(
      `${sweep.workload.events.toLocaleString('en-US')} measured events per point, Zipf over ${sweep.workload.keys.toLocaleString('en-US')} keys, after a warm-up that fills the LRU.`,
    )}</text>`,
    `<text x="${LEFT}" y="60" fill="#444444">${escapeXml(
      `${machine.cpus} cores of ${/^[aeiou]/i.test(machine.cpuModel) ? 'an' : 'a'} ${machine.cpuModel}, Node ${machine.node}${sweep.workload.redis ? `, Redis ${sweep.workload.redis}` : ''}; measured ${sweep.date.slice(0, 16).replace('T', ' ')} UTC.`,
    )}</text>`,
  )

  // Panels: frame, grid, ticks and axis titles.
  const panel = (
    name: string,
    box: { top: number; bottom: number },
    ticks: readonly number[],
    y: (v: number) => number,
    label: (v: number) => string,
    title: string,
    heading: string,
  ) => {
    out.push(
      `<g data-panel="${name}">`,
      `<text x="${LEFT}" y="${box.top - 12}" font-weight="bold">${escapeXml(heading)}</text>`,
    )
    out.push(
      `<rect x="${LEFT}" y="${box.top}" width="${RIGHT - LEFT}" height="${box.bottom - box.top}" fill="none" stroke="#888888"/>`,
    )
    for (const t of ticks) {
      const ty = px(y(t))
      out.push(
        `<line data-axis="y" data-value="${t}" x1="${LEFT}" x2="${RIGHT}" y1="${ty}" y2="${ty}" stroke="#e4e4e4"/>`,
        `<text x="${LEFT - 8}" y="${ty}" text-anchor="end" dominant-baseline="middle">${escapeXml(label(t))}</text>`,
      )
    }
    for (const size of sizes) {
      const tx = px(x(size))
      out.push(
        `<line data-axis="x" data-value="${size}" x1="${tx}" x2="${tx}" y1="${box.top}" y2="${box.bottom}" stroke="#e4e4e4"/>`,
        `<text x="${tx}" y="${box.bottom + 16}" text-anchor="middle">${shortNumber(size)}</text>`,
      )
    }
    const middle = (box.top + box.bottom) / 2
    out.push(
      `<text x="${LEFT - 62}" y="${px(middle)}" text-anchor="middle" transform="rotate(-90 ${LEFT - 62} ${px(middle)})">${escapeXml(title)}</text>`,
      `<text x="${(LEFT + RIGHT) / 2}" y="${box.bottom + 34}" text-anchor="middle">LRU size (entries, log scale)</text>`,
      '</g>',
    )
  }
  panel(
    'rate',
    TOP_PANEL,
    logTicks(rateLo, rateHi),
    yRate,
    shortNumber,
    'events/s (log scale)',
    'Throughput: measured events ÷ (offers + the flusher’s drain)',
  )
  panel(
    'evictions',
    BOTTOM_PANEL,
    [0, 0.25, 0.5, 0.75, 1],
    yEvict,
    (v) => v.toFixed(2),
    'evictions per event',
    'Eviction ratio: sessions the LRU ended ÷ events',
  )

  // Baselines across the top panel, per skew: core merge (dashed), one HINCRBY per event (dotted).
  const baselines = [
    { name: 'core', rates: core, dash: '6 4', what: 'core merge, no Redis' },
    { name: 'per-event', rates: perEvent, dash: '2 3', what: 'one HINCRBY per event' },
  ]
  for (const { name, rates: byskew, dash, what } of baselines) {
    for (const skew of skews) {
      const rate = byskew[String(skew)]
      if (rate === undefined) continue
      const ty = px(yRate(rate))
      out.push(
        `<line data-baseline="${name}" data-skew="${skew}" data-value="${rate}" x1="${LEFT}" x2="${RIGHT}" y1="${ty}" y2="${ty}" stroke="${colour(skew)}" stroke-width="1.5" stroke-dasharray="${dash}" opacity="0.7"><title>${escapeXml(`Zipf ${skew}: ${what}: ${Math.round(rate).toLocaleString('en-US')} events/s`)}</title></line>`,
      )
    }
  }

  // Lines and points, per skew and panel.
  const series = (
    name: string,
    value: (p: SweepPoint) => number,
    y: (v: number) => number,
    describe: (p: SweepPoint) => string,
  ) => {
    for (const skew of skews) {
      const line = points.filter((p) => p.skew === skew).sort((a, b) => a.max - b.max)
      const c = colour(skew)
      out.push(
        `<polyline data-series="${name}" data-skew="${skew}" points="${line.map((p) => `${px(x(p.max))},${px(y(value(p)))}`).join(' ')}" fill="none" stroke="${c}" stroke-width="2.5"/>`,
      )
      for (const p of line) {
        const hollow = p.fullAtStart === false
        out.push(
          `<circle data-series="${name}" data-skew="${skew}" data-max="${p.max}" data-value="${value(p)}" cx="${px(x(p.max))}" cy="${px(y(value(p)))}" r="5" fill="${hollow ? '#ffffff' : c}" stroke="${c}" stroke-width="2"><title>${escapeXml(describe(p))}</title></circle>`,
        )
      }
    }
  }
  const label = (p: SweepPoint) =>
    `Zipf ${p.skew}, LRU ${p.max.toLocaleString('en-US')}: ${Math.round(p.steadyEventsPerSec).toLocaleString('en-US')} events/s, ` +
    `${p.evictionsPerEvent.toFixed(3)} evictions/event, hit ratio ${p.hitRatio.toFixed(3)}` +
    (p.fullAtStart === false ? ' (LRU not full at the start)' : '')
  series('rate', (p) => p.steadyEventsPerSec, yRate, label)
  series('evictions', (p) => p.evictionsPerEvent, yEvict, label)

  // Legend.
  const lx = RIGHT + 24
  let ly = TOP_PANEL.top + 8
  out.push('<g data-legend="">', `<text x="${lx}" y="${ly}" font-weight="bold">Zipf skew</text>`)
  for (const skew of skews) {
    ly += 22
    out.push(
      `<line x1="${lx}" x2="${lx + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${colour(skew)}" stroke-width="2.5"/>`,
      `<circle cx="${lx + 14}" cy="${ly - 4}" r="4" fill="${colour(skew)}"/>`,
      `<text x="${lx + 36}" y="${ly}">${skew}</text>`,
    )
  }
  ly += 30
  out.push(
    `<line x1="${lx}" x2="${lx + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="#555555" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    `<text x="${lx + 36}" y="${ly}">core merge, no Redis</text>`,
    `<text x="${lx + 36}" y="${ly + 15}">(baseline, per skew)</text>`,
  )
  if (Object.keys(perEvent).length > 0) {
    ly += 36
    out.push(
      `<line x1="${lx}" x2="${lx + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="#555555" stroke-width="1.5" stroke-dasharray="2 3"/>`,
      `<text x="${lx + 36}" y="${ly}">one HINCRBY per event</text>`,
      `<text x="${lx + 36}" y="${ly + 15}">(baseline, per skew)</text>`,
    )
  }
  ly += 36
  out.push(
    `<circle cx="${lx + 14}" cy="${ly - 4}" r="4" fill="#ffffff" stroke="#555555" stroke-width="2"/>`,
    `<text x="${lx + 36}" y="${ly}">LRU not full when</text>`,
    `<text x="${lx + 36}" y="${ly + 15}">measured (few keys seen)</text>`,
    '</g>',
  )
  out.push(
    `<text x="${lx}" y="${BOTTOM_PANEL.top + 8}" fill="#444444">`,
    `<tspan x="${lx}" dy="0">Throughput ≈ min(local merge,</tspan>`,
    `<tspan x="${lx}" dy="16">Redis scripts/s ÷ scripts per</tspan>`,
    `<tspan x="${lx}" dy="16">eviction ÷ evictions per event):</tspan>`,
    `<tspan x="${lx}" dy="16">the fewer evictions, the faster.</tspan>`,
    '</text>',
    '</svg>',
  )
  return `${out.join('\n')}\n`
}
