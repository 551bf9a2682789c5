import { phononProject } from '../../vitest.shared.ts'

export default phononProject('lru-update')
