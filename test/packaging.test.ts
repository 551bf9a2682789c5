/**
 * The packages as a user gets them: every public package built (once, by turbo: cached when the
 * test command has just built them) and packed, the tarballs installed with npm into a fresh directory together with what each README's install
 * lines add (from the npm cache, or the registry), then a small ESM program run and its types
 * checked with `tsc --noEmit` and `skipLibCheck: false`.
 */
import { execFile } from 'node:child_process'
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'

const run = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))
const here = fileURLToPath(new URL('./packaging/', import.meta.url))

interface Manifest {
  name: string
  private?: boolean
  scripts?: Record<string, string>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
}

/** Every public package: its directory, manifest and the names its README's install lines add. */
async function publicPackages() {
  const dirs = (await readdir(join(root, 'packages'))).map((name) => join(root, 'packages', name))
  const all = await Promise.all(
    dirs.map(async (dir) => {
      const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Manifest
      const readme = await readFile(join(dir, 'README.md'), 'utf8')
      const installs = [...readme.matchAll(/^(?:pnpm add|npm install) (.+)$/gm)].flatMap((m) =>
        (m[1] as string).replace(/#.*/, '').trim().split(/\s+/),
      )
      return { dir, manifest, installs }
    }),
  )
  return all.filter((p) => !p.manifest.private)
}

let work: string
let packages: Awaited<ReturnType<typeof publicPackages>>

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'phonon-packaging-'))
  packages = await publicPackages()
  const filters = packages.map((p) => `--filter=${p.manifest.name}`)
  await run('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only', ...filters], {
    cwd: root,
  })
  // Packed in parallel, without their prepack (a build each: done above, in dependency order).
  const tarballs = await Promise.all(
    packages.map(async ({ dir }) => {
      const { stdout } = await run('pnpm', ['pack', '--pack-destination', work], {
        cwd: dir,
        env: { ...process.env, npm_config_ignore_scripts: 'true' },
      })
      return (stdout.trim().split('\n').at(-1) as string).trim()
    }),
  )
  const names = new Set(packages.map((p) => p.manifest.name))
  const extra = [...new Set(packages.flatMap((p) => p.installs))].filter((n) => !names.has(n))
  await writeFile(
    join(work, 'package.json'),
    JSON.stringify({ name: 'phonon-user', private: true, type: 'module' }),
  )
  await run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      ...tarballs,
      ...extra,
      '@types/node@20',
    ],
    { cwd: work },
  )
  for (const file of ['program.mjs', 'types.ts']) await copyFile(join(here, file), join(work, file))
}, 600_000)

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true })
})

it('builds each package before packing it (prepack)', () => {
  for (const { manifest } of packages)
    expect(manifest.scripts?.prepack, manifest.name).toBe('pnpm run build')
})

it("each README's install lines name the package and its required peer dependencies", () => {
  for (const { manifest, installs } of packages) {
    const optional = manifest.peerDependenciesMeta ?? {}
    const required = Object.keys(manifest.peerDependencies ?? {}).filter(
      (n) => !optional[n]?.optional,
    )
    expect(installs, manifest.name).toContain(manifest.name)
    expect(installs, manifest.name).toEqual(expect.arrayContaining(required))
  }
})

it('runs an ESM program against the installed tarballs', async () => {
  const { stdout } = await run(process.execPath, ['program.mjs'], { cwd: work })
  expect(JSON.parse(stdout)).toEqual({
    clicks: { w1: 3, w2: 1, w3: 1 },
    effect: 'function',
    sql: 'function',
    streams: 'function',
    events: true,
  })
}, 180_000)

it('type-checks against the published types with skipLibCheck: false', async () => {
  await writeFile(
    join(work, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: ['node'],
      },
      files: ['types.ts'],
    }),
  )
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: work }).catch(
    (error: { stdout: string }) => error,
  )
  expect(result.stdout).toBe('')
}, 180_000)
