/**
 * `@phonon/adapters-django-style`: ORM-style SQL sinks for phonon. A table is declared as a core
 * model with {@link defineSqlModel}, whose updates' `execute(claim)` is one atomic
 * upsert-with-merge; a Django-like manager (`Model.objects.getOrCreate`,
 * `filter().update({ clicks: F('clicks').add(3) })`), batches with `sink.executeMany(claims)`,
 * idempotent executions and fenced writes, on PostgreSQL, MySQL/MariaDB and PGlite through Kysely.
 *
 * @packageDocumentation
 */
export {
  defineSqlModel,
  type IdKey,
  type NoColumns,
  type SqlBoundModel,
  type SqlColumnsOf,
  type SqlModelOptions,
  type SqlTableOf,
} from './bind.js'
export {
  type Column,
  type ColumnKind,
  type Columns,
  column,
  type Merge,
  type NumericColumn,
  type NumericOptions,
  type TextOptions,
  type TypeOf,
} from './columns.js'
export {
  type CreateSinkOptions,
  createSink,
  type MysqlSinkOptions,
  type PGliteSinkOptions,
  type PostgresSinkOptions,
} from './createSink.js'
export { PGliteDialect, type PGliteDialectOptions, PGliteDriver } from './dialects/pglite.js'
export { DoesNotExist } from './errors.js'
export type { Execution } from './execution.js'
export { F, FExpression, type FOperand, type FOperator } from './F.js'
export { type AssignmentOf, type DefaultsOf, Manager, QuerySet } from './Manager.js'
export { type AnySqlModel, SqlModel } from './Model.js'
export {
  type BatchFailure,
  type BatchItem,
  type BatchResult,
  Sink,
  type SinkOptions,
} from './Sink.js'
export type { Db, Dialect } from './sql.js'
export {
  type AnyTable,
  type DeltaOf,
  type FilterOf,
  type RowOf,
  type SpecOf,
  Table,
} from './Table.js'
export type { ExecuteResult } from './write.js'
