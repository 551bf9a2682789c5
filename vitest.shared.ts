import { fileURLToPath } from 'node:url'
import { defineProject } from 'vitest/config'

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url))

/**
 * Workspace packages resolve to their TypeScript sources in tests, so no build is needed first.
 * `@phonon/x` → packages/x/src/index.ts, `@phonon/x/y` → packages/x/src/y.ts.
 */
const sourceAliases = [
  { find: /^@phonon\/([\w-]+)$/, replacement: `${packagesDir}$1/src/index.ts` },
  { find: /^@phonon\/([\w-]+)\/([\w-]+)$/, replacement: `${packagesDir}$1/src/$2.ts` },
]

/** The vitest project config every workspace package uses. */
export function phononProject(name: string) {
  return defineProject({
    resolve: { alias: sourceAliases },
    test: {
      name,
      include: ['test/**/*.test.ts'],
      typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
    },
  })
}
