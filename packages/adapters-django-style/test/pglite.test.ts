import { openPGlite } from './backends.js'
import { conformanceSuite } from './conformance.js'

conformanceSuite('PGlite', openPGlite, { propertyRuns: 25 })
