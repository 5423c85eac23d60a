// The public typings of waypost for Node: the classes of index.js over the generated
// native types (generated.d.ts, produced by `napi build`).
import { EventEmitter } from 'node:events'
import type {
  CheckpointData as NativeCheckpointData,
  LagMetrics as NativeLagMetrics,
  NewEventInput,
  SqliteOptions,
  PostgresOptions,
  MysqlOptions,
  EventsTableOptions,
  Progress as NativeProgress,
  ProgressOptions,
  HealthOptions,
  HealthVerdict as NativeHealthVerdict,
} from './generated'

export type { NewEventInput, SqliteOptions, PostgresOptions, MysqlOptions, EventsTableOptions, ProgressOptions, HealthOptions }

/** Missing values are `null`. */
type Nullable<T> = { [K in keyof T]-?: undefined extends T[K] ? Exclude<T[K], undefined> | null : T[K] }

/** One projection's stored checkpoint. */
export type CheckpointData = Nullable<NativeCheckpointData>
/** How far behind a projection is. */
export type LagMetrics = Nullable<NativeLagMetrics>

/** The checkpoint protocol shared by the three repository classes. */
export declare abstract class CheckpointRepository {
  /** The last processed event id (a lowercase UUID string), or `null`. */
  getCheckpoint(projectionName: string): Promise<string | null>
  /** Records an event as processed (UPSERT); keeps any stored position and token. */
  updateCheckpoint(projectionName: string, eventId: string, eventType: string): Promise<void>
  /**
   * The last saved global position, or `null`: a `number` up to `Number.MAX_SAFE_INTEGER`,
   * a `bigint` beyond (never rounded).
   */
  getPosition(subscriptionId: string): Promise<number | bigint | null>
  /**
   * Saves a global position (UPSERT); keeps any stored token.
   * @param position 0 to 2^63 − 1: a safe-integer `number` or a `bigint`; anything else is
   *   an `InvalidArgumentError`
   * @example await repo.savePosition('OrderProjection', 1000, event.id, 'OrderPlaced')
   */
  savePosition(subscriptionId: string, position: number | bigint, eventId: string, eventType: string): Promise<void>
  /** The last saved opaque position token, or `null`. */
  getPositionToken(subscriptionId: string): Promise<string | null>
  /** Saves an opaque position token (UPSERT); keeps any stored integer position. */
  savePositionToken(subscriptionId: string, token: string, eventId: string, eventType: string): Promise<void>
  /** How far behind a projection is, or `null` without a checkpoint. */
  getLagMetrics(projectionName: string, eventTypes?: string[] | null): Promise<LagMetrics | null>
  /** Deletes a projection's checkpoint; a no-op when there is none. */
  resetCheckpoint(projectionName: string): Promise<void>
  /** Every checkpoint, ordered by name in byte order. */
  getAllCheckpoints(): Promise<CheckpointData[]>
  /** Creates the events table in waypost's layout, with the lag index, if missing. */
  createEventsTable(): Promise<void>
  /** Creates the index that makes filtered lag queries fast on an existing events table. */
  createLagIndex(): Promise<void>
  /** Appends events to the events table. */
  appendEvents(events: NewEventInput[]): Promise<void>
  /** Releases connections and threads; later calls reject with `UnavailableError`. */
  close(): Promise<void>
  /** `close()`, for `await using repo = …`. */
  [Symbol.asyncDispose](): Promise<void>
  toString(): string
  /**
   * The SQL and parameters of a checkpoint write, to run with your own driver inside your
   * own transaction: `$1 …` placeholders on PostgreSQL (`client.query(text, values)`),
   * `?1 …` on SQLite (better-sqlite3 binds numbered placeholders from an object:
   * `db.prepare(text).run(Object.fromEntries(values.map((v, i) => [i + 1, v])))`).
   * @throws UnsupportedError on the in-memory repository.
   */
  checkpointStatement(
    kind: 'savePosition' | 'updateCheckpoint' | 'savePositionToken',
    name: string,
    eventId: string,
    eventType: string,
    options?: { position?: number | bigint; token?: string },
  ): Promise<{ text: string; values: Array<string | number | bigint> }>
  /**
   * Runs `fn(tx)` in one transaction: the read-model statements and checkpoint writes made
   * through `tx` commit together when `fn` resolves and roll back together when it throws.
   * @example
   * await repo.transaction(async (tx) => {
   *   await tx.execute('INSERT INTO order_totals (order_id, total) VALUES ($1, $2)', [order.id, order.total])
   *   await tx.savePosition('OrderTotals', event.position, event.id, event.type)
   * })
   * @throws UnsupportedError for an SQLite `:memory:` database.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T): Promise<T>
  /** Opens a transaction that you commit or roll back yourself. */
  begin(): Promise<Transaction>
  /** The largest global position in the events table (0 when empty), or `null` without one. */
  streamHead(): Promise<number | bigint | null>
  /**
   * How far a projection is, in the words operators read.
   * @example (await repo.getProgress('Orders')).statusLine // 'Behind by 15 events (25.0% complete)'
   */
  getProgress(projectionName: string, options?: ProgressOptions): Promise<Progress>
  /** `getProgress` of every checkpoint, ordered by name. */
  getAllProgress(options?: ProgressOptions): Promise<Progress[]>
  /**
   * Health for your own endpoint: degraded from 1,000 events behind or 60 s stalled while
   * behind, unhealthy from 10,000 or 300 s (options override); an idle, caught-up
   * projection is healthy however old its last write is.
   * @example const { status } = await repo.getHealth(); res.status(status === 'Unhealthy' ? 503 : 200)
   */
  getHealth(projectionName?: string | null, options?: HealthOptions): Promise<HealthReport>
}

/** How far one projection is; missing values are `null`. */
export type Progress = Nullable<NativeProgress> & {
  state: 'NotStarted' | 'CatchingUp' | 'CaughtUp' | 'Idle' | 'Stalled'
}
/** One projection's health and why. */
export type HealthVerdict = NativeHealthVerdict & { status: 'Healthy' | 'Degraded' | 'Unhealthy' }
/** The worst verdict and one per projection. */
export interface HealthReport {
  status: 'Healthy' | 'Degraded' | 'Unhealthy'
  projections: HealthVerdict[]
}

/** A statement parameter: JSON for plain objects and arrays, bytes for Buffers and
 * Uint8Arrays, a timestamp for Dates, a 64-bit integer for safe-integer numbers and
 * bigints. JS has no UUID type: strings are bound as text, so cast them in SQL for a
 * PostgreSQL `uuid` column (`$1::uuid`). */
export type SqlParam = null | undefined | boolean | number | bigint | string | Date | Uint8Array | object
/** A value read back: typed on PostgreSQL; SQLite's storage classes on SQLite. Integers
 * beyond `Number.MAX_SAFE_INTEGER` come back as `bigint`. */
export type SqlResult = null | boolean | number | bigint | string | Date | Buffer | unknown

/** A transaction on a repository. Placeholders are `$1, $2, …`; parameters are bound,
 * never pasted into the SQL. Any error from the store rolls it back and ends it. */
export declare class Transaction {
  /** Runs one statement; resolves to the number of rows it changed (or returned). */
  execute(sql: string, params?: SqlParam[]): Promise<number>
  /** Runs one query; resolves to its rows as objects keyed by column name. */
  fetchAll(sql: string, params?: SqlParam[]): Promise<Array<Record<string, SqlResult>>>
  savePosition(subscriptionId: string, position: number | bigint, eventId: string, eventType: string): Promise<void>
  updateCheckpoint(projectionName: string, eventId: string, eventType: string): Promise<void>
  savePositionToken(subscriptionId: string, token: string, eventId: string, eventType: string): Promise<void>
  commit(): Promise<void>
  /** A no-op once the transaction has ended. */
  rollback(): Promise<void>
  /** Rolls back unless committed, for `await using tx = await repo.begin()`. */
  [Symbol.asyncDispose](): Promise<void>
  /** Whether the transaction is still open. */
  readonly isOpen: boolean
}

/**
 * What every repository factory takes beside its store's options. `unsafeIntegers`: a
 * stored 64-bit integer beyond `Number.MAX_SAFE_INTEGER` (a position, stream head, events
 * behind, a `fetchAll` column) comes back as a `bigint` (`'bigint'`, the default) or
 * throws a `RangeError` (`'throw'`, for code that does arithmetic on numbers only).
 */
export interface IntegerOptions {
  unsafeIntegers?: 'bigint' | 'throw'
}

/** Checkpoints in process memory (tests, tools). */
export declare class InMemoryCheckpointRepository extends CheckpointRepository {
  constructor(options?: IntegerOptions | null)
}

/** Checkpoints in an SQLite file (WAL, synchronous=FULL). */
export declare class SqliteCheckpointRepository extends CheckpointRepository {
  /** @example const repo = await SqliteCheckpointRepository.open('checkpoints.db') */
  static open(path: string, options?: (SqliteOptions & IntegerOptions) | null): Promise<SqliteCheckpointRepository>
}

/** Checkpoints in PostgreSQL; connects on the first call. */
export declare class PostgresCheckpointRepository extends CheckpointRepository {
  /** @example const repo = await PostgresCheckpointRepository.connect('postgres://app@db/app') */
  static connect(url: string, options?: (PostgresOptions & IntegerOptions) | null): Promise<PostgresCheckpointRepository>
}

/** Checkpoints in MySQL 8 or MariaDB 10.6+, in the database the URL names; connects on the first call. */
export declare class MysqlCheckpointRepository extends CheckpointRepository {
  /** @example const repo = await MysqlCheckpointRepository.connect('mysql://app@db/app') */
  static connect(url: string, options?: (MysqlOptions & IntegerOptions) | null): Promise<MysqlCheckpointRepository>
}

/** Opens `memory:`, `sqlite:PATH`, `postgres://…` or `mysql://…` with the store's default options. */
export declare function openRepository(url: string, options?: IntegerOptions | null): Promise<CheckpointRepository>

export interface CheckpointManagerOptions {
  /** Default: `worker_<unix ms>_<6 random characters>`. */
  workerId?: string
  /** Claims after the first attempt; default 3, at most 1000. */
  maxRetries?: number
  /** Lease length; default 300000 (5 minutes), renewed every third of it while held. */
  leaseMs?: number
  /** Switch to an in-process ledger when the store is unreachable (warns once); default false. */
  fallbackToMemory?: boolean
  /** The claims table; default `work_claims`. */
  table?: string
}

export interface FileStats {
  totalRows?: number
  filteredRows?: number
  persistedRows?: number
  durationMs?: number
}

export interface ClaimStats {
  total: number
  processing: number
  completed: number
  failed: number
}

/**
 * Per-item work claims for one worker: each item is processed by one live worker at a
 * time, retried up to `maxRetries` times, and taken over when a worker dies and its lease
 * runs out. A worker that comes back late gets `LeaseLostError` and changes nothing.
 */
/**
 * Emits `'leaseLost'` (url, error) as soon as the background heartbeat finds a held
 * claim lost (taken over, or its lease run out while the store was unreachable).
 *
 * @example
 * if (await manager.claimFile(url, 'csv', new Date())) {
 *   await processFile(url, { signal: manager.signal(url) }) // aborted with LeaseLostError on a loss
 *   await manager.completeFile(url)
 * }
 */
export declare class CheckpointManager extends EventEmitter {
  constructor(store: CheckpointRepository, options?: CheckpointManagerOptions)
  /** A manager that has reached its store: rejects at once when it cannot be reached (or
   * falls back to memory with `fallbackToMemory: true`); the constructor waits for the
   * first call instead.
   * @example const manager = await CheckpointManager.start(repo, { workerId: 'w1' }) */
  static start(store: CheckpointRepository, options?: CheckpointManagerOptions): Promise<CheckpointManager>
  /** The AbortSignal of this worker's live claim on `url`, aborted with a LeaseLostError
   * if the claim is lost in the background; `null` when none is held. */
  signal(url: string): AbortSignal | null
  on(event: 'leaseLost', listener: (url: string, error: LeaseLostError) => void): this
  once(event: 'leaseLost', listener: (url: string, error: LeaseLostError) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
  /** `'pending'` until the store answered (`start()` or the first call), then `'store'`,
   * or `'memory'` after a fallback. */
  readonly mode: 'pending' | 'store' | 'memory'
  getWorkerId(): string
  /** `true` when the item is now this worker's; `false` when done, held elsewhere or out of retries. */
  claimFile(url: string, type: string, timestamp: Date): Promise<boolean>
  /** @throws LeaseLostError when this worker holds no live claim on `url`. */
  completeFile(url: string, stats?: FileStats): Promise<void>
  /** @throws LeaseLostError when this worker holds no live claim on `url`. */
  failFile(url: string, message: string): Promise<void>
  /** Hands the item back without counting an attempt. */
  releaseFile(url: string): Promise<void>
  isProcessed(url: string): Promise<boolean>
  getStats(): Promise<ClaimStats>
  /** Stops the heartbeat and releases every item still held. */
  close(): Promise<void>
  /** `close()`, for `await using manager = …`. */
  [Symbol.asyncDispose](): Promise<void>
}

export interface CheckpointerOptions {
  /** Save after this many events. */
  every?: number
  /** Save when this many milliseconds have passed since the last save (also with no new event). */
  intervalMs?: number
  /**
   * For handlers that finish in any order: `begin(position)` each event in stream order,
   * `ack(position, eventId, eventType)` when its handler is done; only the frontier (see
   * `Frontier`) is saved, never a position past an unfinished event; `record` is refused.
   */
  outOfOrder?: boolean
}

/**
 * Saves one projection's position by a strategy: after every event (no options), every
 * `every` events, every `intervalMs`, or both, whichever comes first. One write covers
 * every event since the previous save. `close()` always saves the last recorded position.
 */
export declare class Checkpointer {
  constructor(store: CheckpointRepository, projectionName: string, options?: CheckpointerOptions)
  /** Records that the event at `position` was handled; saves if the strategy says so. */
  record(position: number | bigint, eventId: string, eventType: string): Promise<void>
  /** `outOfOrder`: handling of `position` began (positions in strictly increasing order). */
  begin(position: number | bigint): void
  /** `outOfOrder`: the handler of `position` is done; saves the frontier when it moved and the strategy says so. */
  ack(position: number | bigint, eventId: string, eventType: string): Promise<void>
  /** `outOfOrder`: begun positions not acknowledged yet. */
  readonly inFlight: number
  flush(): Promise<void>
  close(): Promise<void>
  /** `close()` (which saves the last recorded position), for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
  saves(): Promise<number>
  unsaved(): Promise<number>
}

/**
 * Where a consumer whose events are handled in parallel may safely checkpoint:
 * `begin(position)` as each event's handling starts (in stream order), `ack(position)` as
 * it ends (in any order); `committed` is the highest acknowledged position below which
 * every begun position is acknowledged too (`start` until there is one). Positions never
 * begun (filtered events, gaps) never hold it back. Bad input throws `InvalidArgumentError`.
 */
export declare class Frontier {
  constructor(start?: number | bigint | null)
  /** Handling of `position` began; positions begin in strictly increasing order, above `start`. */
  begin(position: number | bigint): void
  /** Handling of `position` ended; a position never begun, or acknowledged already, throws. */
  ack(position: number | bigint): void
  readonly start: number | bigint | null
  /** The position that is safe to checkpoint. */
  readonly committed: number | bigint | null
  /** How many begun positions are not acknowledged yet. */
  readonly inFlight: number
}

export interface Claim {
  key: string
  workerId: string
  /** The fencing epoch: grows on every claim of the item. */
  epoch: number
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt: number
  leaseExpiresAt: Date
}

export interface ItemStats {
  recordsTotal?: number
  recordsFiltered?: number
  recordsPersisted?: number
  processingTimeMs?: number
}

export interface ClaimRecord {
  key: string
  itemType: string
  itemTimestamp: Date
  status: 'processing' | 'completed' | 'failed'
  retryCount: number
  workerId: string | null
  epoch: number
  leaseExpiresAt: Date | null
  startedAt: Date | null
  completedAt: Date | null
  createdAt: Date
  errorMessage: string | null
  stats: Required<ItemStats> | null
}

/** The claims ledger itself, for callers that keep each claim (with its epoch) themselves. */
export declare class ClaimLedger {
  constructor(store: CheckpointRepository, options?: { table?: string; maxRetries?: number })
  /** The claim, or null when the item is done, held by a live claim, or out of retries. */
  claim(key: string, itemType: string, itemTimestamp: Date, workerId: string, leaseMs: number): Promise<Claim | null>
  /** @throws LeaseLostError when the claim is no longer current. */
  heartbeat(claim: Claim, leaseMs: number): Promise<Claim>
  /** @throws LeaseLostError when the claim is no longer current. */
  complete(claim: Claim, stats?: ItemStats): Promise<void>
  /** @throws LeaseLostError when the claim is no longer current. */
  fail(claim: Claim, message: string): Promise<void>
  /** Hands the item back without counting an attempt. */
  release(claim: Claim): Promise<void>
  isProcessed(key: string): Promise<boolean>
  get(key: string): Promise<ClaimRecord | null>
  stats(): Promise<ClaimStats>
  list(status?: 'processing' | 'completed' | 'failed', limit?: number): Promise<ClaimRecord[]>
}

export type ErrorCode = 'InvalidArgument' | 'NotFound' | 'Conflict' | 'Unavailable' | 'Backend' | 'Unsupported' | 'LeaseLost'

/** Base class of every waypost error. */
export declare class WaypostError extends Error {
  readonly code: ErrorCode
}
export declare class InvalidArgumentError extends WaypostError {}
export declare class NotFoundError extends WaypostError {}
export declare class ConflictError extends WaypostError {}
export declare class UnavailableError extends WaypostError {}
export declare class BackendError extends WaypostError {}
export declare class UnsupportedError extends WaypostError {}
/** A work claim is no longer current; nothing was written. */
export declare class LeaseLostError extends WaypostError {}
