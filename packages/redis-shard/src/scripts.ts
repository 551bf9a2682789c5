import { readFileSync } from 'node:fs'
import type { Cluster, Redis } from 'ioredis'

/** A client the scripts can be registered on: a standalone connection or a Cluster. */
export type Client = Redis | Cluster

/**
 * Each script: its file under `lua/` and its number of keys (undefined: a per-resource script
 * taking a batch of resources, see `lua/includes/batch.lua`).
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
  heartbeat: { file: 'heartbeat-1.lua', keys: 1 },
} as const

/** The name of a script. */
export type ScriptName = keyof typeof SCRIPTS

/**
 * Registered under a name suffixed with the script format version, so two versions of phonon on
 * one server never run each other's scripts.
 */
const SCRIPT_VERSION = 'v2'

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
 * may grow memory, after earlier ones ran: a release would remove its holder (HDEL is allowed)
 * and then fail to fold its delta, and its retry would find the holder gone — a lost delta.
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

/** The command name a script is registered under. */
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

/** The scripts that take a batch of resources. */
export type BatchScript = 'acquire' | 'release' | 'fold' | 'complete' | 'evict'

/** One resource's part of a batch script call. */
export interface Segment {
  readonly keys: readonly string[]
  readonly args: ReadonlyArray<string | number>
}

/**
 * Queues (on a pipeline) or sends (on a client) one call of a batch script for resources of one
 * node (one slot in a Cluster): the primitive under RedisShard's typed operations. Its reply is
 * one reply per segment.
 */
export function callBatch(
  target: object,
  name: BatchScript,
  segments: readonly Segment[],
): unknown {
  const keys: string[] = []
  const args: Array<string | number> = [segments.length]
  for (const segment of segments) {
    keys.push(...segment.keys)
    args.push(segment.keys.length, segment.args.length, ...segment.args)
  }
  return command(target, name)(keys.length, ...keys, ...args)
}

/** Queues or sends one call of a script with a fixed number of keys (locks, heartbeat). */
export function callScript(
  target: object,
  name: Exclude<ScriptName, BatchScript>,
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
