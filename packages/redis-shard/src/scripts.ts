import { readFileSync } from 'node:fs'
import type { Cluster, Redis } from 'ioredis'
import { SCRIPT_VERSION } from './version.generated.js'

/** A client the scripts can be registered on: a standalone connection or a Cluster. */
export type Client = Redis | Cluster

/**
 * Each script: its file under `lua/` and its number of keys (undefined: given per call, the
 * batch scripts).
 */
const SCRIPTS = {
  acquire: { file: 'acquire.lua', keys: undefined },
  release: { file: 'release.lua', keys: undefined },
  fold: { file: 'fold.lua', keys: undefined },
  complete: { file: 'complete.lua', keys: undefined },
  evict: { file: 'evict.lua', keys: undefined },
  lock: { file: 'lock-2.lua', keys: 2 },
  unlock: { file: 'unlock-1.lua', keys: 1 },
  extend: { file: 'extend-1.lua', keys: 1 },
  heartbeat: { file: 'heartbeat-3.lua', keys: 3 },
  expire: { file: 'expire-1.lua', keys: 1 },
} as const

/** The name of a script. */
export type ScriptName = keyof typeof SCRIPTS

const LUA_DIR = new URL('./lua/', import.meta.url)

/** Declares the script's flags (none: not allowed to run out of memory). */
const SHEBANG = '#!lua\n'

/**
 * The Lua source of one of the scripts (a file of `lua/`, e.g. `'release.lua'`) with its
 * `--@include name` lines replaced by `lua/includes/name.lua`: what is loaded into Redis. For
 * tooling and benchmarks.
 *
 * It opens with a `#!lua` shebang (Redis ≥ 7), which makes Redis refuse the whole script when it
 * is out of memory, before any command runs. Without it Redis refuses only the first command that
 * may grow memory, after earlier ones ran.
 */
export function scriptSource(file: string): string {
  return (
    SHEBANG +
    readFileSync(new URL(file, LUA_DIR), 'utf8').replace(
      /^--@include (\w+)$/gm,
      (_, name: string) => readFileSync(new URL(`includes/${name}.lua`, LUA_DIR), 'utf8'),
    )
  )
}

const sources = new Map(
  Object.entries(SCRIPTS).map(([name, { file }]) => [name, scriptSource(file)]),
)

/**
 * The command name a script is registered under: suffixed with a hash of the scripts' content
 * (`SCRIPT_VERSION`, from codegen), so two versions of phonon never run each other's scripts.
 */
export function commandName(name: ScriptName): string {
  return `phonon_${name}_${SCRIPT_VERSION}`
}

/**
 * Registers every script on a client with ioredis `defineCommand` (EVALSHA with a NOSCRIPT
 * fallback, usable in pipelines).
 */
export function registerScripts(client: Client): void {
  for (const [name, { keys }] of Object.entries(SCRIPTS)) {
    const lua = sources.get(name) as string
    client.defineCommand(
      commandName(name as ScriptName),
      keys === undefined ? { lua } : { lua, numberOfKeys: keys },
    )
  }
}

/** The scripts that take a batch of resources of one type spec each (see `lua/includes/batch.lua`). */
export type BatchScript = 'release' | 'fold' | 'complete' | 'evict'

/** One resource's part of a batch call: its keys, its type spec and its arguments. */
export interface Segment {
  readonly keys: readonly string[]
  readonly spec: string
  readonly args: readonly string[]
}

/** The arguments every resource of a batch call shares. */
export interface BatchHeader {
  readonly leaseMs: number
  readonly incarnation: string
  readonly retryWindowMs: number
}

/** The most arguments one script call sends (Lua's stack and Redis' query buffer stay small). */
export const MAX_CALL_ARGS = 8_000

/** How many arguments a segment adds to a batch call (its type index and its arguments). */
export function segmentSize(segment: Segment): number {
  return segment.keys.length + segment.args.length + 1
}

/**
 * Queues (on a pipeline) one call of a batch script for resources of one node (one slot in a
 * Cluster). Its reply is one reply per segment.
 */
export function callBatch(
  target: object,
  name: BatchScript,
  header: BatchHeader,
  segments: readonly Segment[],
): unknown {
  const { keys, args } = batchCall(header, segments)
  return command(target, name)(keys.length, ...keys, ...args)
}

/**
 * The KEYS and ARGV of one call of a batch script (`lua/includes/batch.lua`): the header, the
 * distinct type specs, then each segment's type index and arguments.
 */
export function batchCall(
  header: BatchHeader,
  segments: readonly Segment[],
): { keys: string[]; args: string[] } {
  const specs: string[] = []
  const keys: string[] = []
  const tail: string[] = []
  for (const segment of segments) {
    let index = specs.indexOf(segment.spec)
    if (index < 0) index = specs.push(segment.spec) - 1
    keys.push(...segment.keys)
    tail.push(String(index + 1), ...segment.args)
  }
  const { leaseMs, incarnation, retryWindowMs } = header
  const args = [
    String(segments.length),
    String(leaseMs),
    incarnation,
    String(retryWindowMs),
    String(specs.length),
    ...specs,
    ...tail,
  ]
  return { keys, args }
}

/** Queues one acquire call: a hash key and a token per resource. */
export function callAcquire(target: object, keys: readonly string[], tokens: readonly string[]) {
  return command(target, 'acquire')(keys.length, ...keys, ...tokens)
}

/** Queues or sends one call of a script with a fixed number of keys (locks, heartbeat). */
export function callScript(
  target: object,
  name: Exclude<ScriptName, BatchScript | 'acquire'>,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<unknown> {
  return command(target, name)(...keys, ...args) as Promise<unknown>
}

function command(target: object, name: ScriptName): (...args: unknown[]) => unknown {
  const fn = (target as Record<string, (...a: unknown[]) => unknown>)[commandName(name)]
  if (typeof fn !== 'function') throw new Error(`script ${name} is not registered on this client`)
  return fn.bind(target)
}
