import { phononProject } from '../../vitest.shared.ts'

export default phononProject('events')
