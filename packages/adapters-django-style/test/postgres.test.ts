import { openPostgres } from './backends.js'
import { conformanceSuite } from './conformance.js'

conformanceSuite('PostgreSQL', openPostgres, { propertyRuns: 25 })
