/**
 * The package's layers: its source files import each other only downwards (no cycle, type
 * imports included), in the order the README documents; they import no driver statically (the
 * drivers are optional peer dependencies, loaded on demand by src/drivers.ts).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const SRC = join(import.meta.dirname, '..', 'src')

/** Every source file, relative to src (`dialects/pglite.ts`). */
function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [relative(SRC, join(dir, entry.name))]
        : [],
  )
}

/** The static import and export-from specifiers of a file (`import type` included). */
function specifiers(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8')
  return [...text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/gms)].map(
    (m) => m[1] as string,
  )
}

/** The files a file imports, relative to src. */
function localImports(file: string): string[] {
  return specifiers(file)
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(SRC, join(SRC, file, '..', s.replace(/\.js$/, '.ts'))))
}

/** A cycle of the import graph, if there is one (depth-first search). */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (file: string): string[] | undefined => {
    if (state.get(file) === 'done') return undefined
    if (state.get(file) === 'open') return [...path.slice(path.indexOf(file)), file]
    state.set(file, 'open')
    path.push(file)
    for (const next of graph.get(file) ?? []) {
      const cycle = visit(next)
      if (cycle) return cycle
    }
    path.pop()
    state.set(file, 'done')
    return undefined
  }
  for (const file of graph.keys()) {
    const cycle = visit(file)
    if (cycle) return cycle
  }
  return undefined
}

/** The layers of the README, bottom first: a file imports only from its layer's files below it. */
const LAYERS = [
  ['values.ts', 'columns.ts', 'execution.ts', 'errors.ts', 'drivers.ts', 'sql.ts'],
  ['Table.ts'],
  ['F.ts', 'read.ts', 'write.ts', 'rows.ts'],
  ['Sink.ts'],
  ['Manager.ts'],
  ['Model.ts'],
  ['bind.ts'],
  ['dialects/pglite.ts', 'createSink.ts'],
  ['index.ts'],
]

describe('layers', () => {
  const graph = new Map(sources().map((file) => [file, localImports(file)]))

  it('the import graph has no cycle', () => {
    expect(findCycle(graph)).toBeUndefined()
  })

  it('finds a cycle when there is one (the check itself)', () => {
    const planted = new Map(graph)
    planted.set('Table.ts', [...(graph.get('Table.ts') ?? []), 'Manager.ts'])
    expect(findCycle(planted)).toEqual(expect.arrayContaining(['Table.ts', 'Manager.ts']))
  })

  it('every file sits in a layer, and imports nothing from a layer above its own', () => {
    const rank = new Map(LAYERS.flatMap((files, layer) => files.map((f) => [f, layer] as const)))
    expect([...graph.keys()].filter((file) => !rank.has(file))).toEqual([])
    for (const [file, imports] of graph) {
      for (const imported of imports) {
        expect({
          file,
          imported,
          above: (rank.get(imported) ?? 0) > (rank.get(file) ?? 0),
        }).toEqual({ file, imported, above: false })
      }
    }
  })

  it('no driver is imported statically; other packages are core, kysely and node built-ins', () => {
    const external = [...graph.keys()].flatMap((file) =>
      specifiers(file)
        .filter((s) => !s.startsWith('.'))
        .map((s) => `${file}: ${s}`),
    )
    const allowed = /: (@phonon\/core|kysely|node:[a-z]+)$/
    expect(external.filter((line) => !allowed.test(line))).toEqual([])
  })
})
