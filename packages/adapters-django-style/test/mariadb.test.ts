import { openMariaDB } from './backends.js'
import { conformanceSuite } from './conformance.js'

conformanceSuite('MariaDB', openMariaDB, { propertyRuns: 25 })
