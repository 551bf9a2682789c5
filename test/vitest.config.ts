import { defineProject } from 'vitest/config'

/** Tests of the repository as a whole: the packages as a user installs them. */
export default defineProject({
  test: { name: 'repository', include: ['*.test.ts'] },
})
