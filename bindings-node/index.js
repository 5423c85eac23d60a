'use strict'
// waypost for Node: the documented classes over the native repository (generated.js).
// Every method converts, calls the native code, and maps errors to the classes below.
// The API is documented once, in index.d.ts.

const { EventEmitter } = require('node:events')
const native = require('./generated.js')

/** Base class of every waypost error; `code` names the kind ('InvalidArgument', …). */
class WaypostError extends Error {
  constructor(message, code, options) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}
class InvalidArgumentError extends WaypostError {}
class NotFoundError extends WaypostError {}
class ConflictError extends WaypostError {}
class UnavailableError extends WaypostError {}
class BackendError extends WaypostError {}
class UnsupportedError extends WaypostError {}
class LeaseLostError extends WaypostError {}

const BY_CODE = {
  InvalidArgument: InvalidArgumentError,
  NotFound: NotFoundError,
  Conflict: ConflictError,
  Unavailable: UnavailableError,
  Backend: BackendError,
  Unsupported: UnsupportedError,
  LeaseLost: LeaseLostError,
}

// The native side throws core errors with the kind as napi's `code`; they become the
// kind's class. A failed argument conversion (a number where a string belongs) comes
// from napi itself and becomes a TypeError.
function translate(err) {
  if (!(err instanceof Error) || err instanceof WaypostError) return err
  if (Object.hasOwn(BY_CODE, err.code)) return new BY_CODE[err.code](err.message, err.code, { cause: err })
  if (['InvalidArg', 'NumberExpected', 'StringExpected', 'DateExpected', 'ObjectExpected', 'BooleanExpected', 'ArrayExpected'].includes(err.code)) {
    return new TypeError(err.message, { cause: err })
  }
  return err
}

// What napi converts too leniently, checked before any native call. A string with a lone
// surrogate has no UTF-8 form: napi would write U+FFFD for it, so 'a\ud800' and
// 'a\udc00' would name one checkpoint. It is refused as the core refuses a bad value.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const wellFormed = typeof String.prototype.isWellFormed === 'function'
  ? (s) => s.isWellFormed()
  : (s) => !LONE_SURROGATE.test(s)

function checkStrings(value, where) {
  if (typeof value === 'string') {
    if (!wellFormed(value)) {
      throw new InvalidArgumentError(`invalid argument: ${where} contains a lone surrogate (no UTF-8 form)`, 'InvalidArgument')
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => checkStrings(v, `${where}[${i}]`))
  } else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) checkStrings(v, `${where}.${k}`)
  }
}

function checkArgs(args) {
  for (let i = 0; i < args.length; i++) checkStrings(args[i], `argument ${i + 1}`)
}

// Every native method and function checks its arguments first.
for (const [name, value] of Object.entries(native)) {
  if (typeof value !== 'function') continue
  if (/^[A-Z]/.test(name)) {
    for (const method of Object.getOwnPropertyNames(value.prototype)) {
      const original = Object.getOwnPropertyDescriptor(value.prototype, method).value
      if (method === 'constructor' || typeof original !== 'function') continue
      value.prototype[method] = function (...args) { checkArgs(args); return original.apply(this, args) }
    }
  } else {
    native[name] = (...args) => { checkArgs(args); return value(...args) }
  }
}

// The core's warnings become process warnings: type 'WaypostWarning', code
// 'WAYPOST_CHECKPOINTER_UNSAVED', 'WAYPOST_CLAIMS_FALLBACK', 'WAYPOST_LEASE_LOST'.
native.forwardWarnings(([code, message]) => {
  process.emitWarning(message, { type: 'WaypostWarning', code: `WAYPOST_${code.toUpperCase()}` })
})

/** Options are an object, or left out (napi would read a number's properties as unset). */
function options(value, name = 'options') {
  if (value != null && (typeof value !== 'object' || Array.isArray(value))) {
    throw new TypeError(`${name} must be an object, got ${Array.isArray(value) ? 'an array' : typeof value}`)
  }
  checkStrings(value, name)
  return value ?? undefined
}

// For calls answered synchronously: errors are translated the same way.
function now(run) {
  try {
    return run()
  } catch (err) {
    throw translate(err)
  }
}

async function call(run) {
  try {
    return await run()
  } catch (err) {
    throw translate(err)
  }
}

const RECORD_FIELDS = ['lastEventId', 'lastEventType', 'lastProcessedAt', 'globalPosition', 'positionToken']
const PROGRESS_FIELDS = ['position', 'streamHead', 'eventsBehind', 'percentComplete', 'lastProcessedAt', 'idleSeconds']
const LAG_FIELDS = ['lastEventId', 'latestEventId', 'lastProcessedAt', 'streamHead', 'eventsBehind']

// Missing values are null, as in every other waypost call.
function withNulls(record, fields) {
  if (record == null) return null
  for (const field of fields) if (record[field] === undefined) record[field] = null
  return record
}

const NATIVE = Symbol('native')
const INTEGERS = Symbol('integers')

// `unsafeIntegers`: what a stored 64-bit integer beyond Number.MAX_SAFE_INTEGER becomes,
// a bigint ('bigint', the default) or a RangeError ('throw'), for code that does
// arithmetic on numbers only.
function integersOption(opts) {
  const mode = opts?.unsafeIntegers ?? 'bigint'
  if (mode !== 'bigint' && mode !== 'throw') {
    throw new InvalidArgumentError(`invalid argument: unsafeIntegers must be 'bigint' or 'throw', got ${typeof mode === 'string' ? `'${mode}'` : typeof mode}`, 'InvalidArgument')
  }
  return mode
}

function safe(mode, value, what) {
  if (mode === 'throw' && typeof value === 'bigint') {
    throw new RangeError(`${what} ${value} is beyond Number.MAX_SAFE_INTEGER (unsafeIntegers: 'throw')`)
  }
  return value
}

// The 64-bit fields of a record, checked under unsafeIntegers: 'throw'.
function safeFields(mode, record, fields) {
  if (mode === 'throw' && record != null) for (const field of fields) safe(mode, record[field], field)
  return record
}
const INT_FIELDS = ['globalPosition', 'position', 'streamHead', 'eventsBehind']
// `await using x = …` calls this; Node 20 defines it, older runtimes see the registry's.
const ASYNC_DISPOSE = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')

class CheckpointRepository {
  constructor(handle, opts) {
    if (!(handle instanceof native.NativeRepository)) {
      throw new TypeError('use InMemoryCheckpointRepository, SqliteCheckpointRepository.open, PostgresCheckpointRepository.connect or MysqlCheckpointRepository.connect')
    }
    this[NATIVE] = handle
    this[INTEGERS] = integersOption(opts)
  }
  createEventsTable() { return call(() => this[NATIVE].createEventsTable()) }
  createLagIndex() { return call(() => this[NATIVE].createLagIndex()) }
  appendEvents(events) { return call(() => this[NATIVE].appendEvents(events)) }
  close() { return call(() => this[NATIVE].close()) }
  checkpointStatement(kind, name, eventId, eventType, opts) {
    return call(() => this[NATIVE].checkpointStatement(kind, name, eventId, eventType, options(opts)))
  }
  async streamHead() { return safe(this[INTEGERS], await call(() => this[NATIVE].streamHead()), 'streamHead') }
  async getProgress(projectionName, opts) {
    const progress = await call(() => this[NATIVE].getProgress(projectionName, options(opts)))
    return safeFields(this[INTEGERS], withNulls(progress, PROGRESS_FIELDS), INT_FIELDS)
  }
  async getAllProgress(opts) {
    return (await call(() => this[NATIVE].getAllProgress(options(opts))))
      .map((p) => safeFields(this[INTEGERS], withNulls(p, PROGRESS_FIELDS), INT_FIELDS))
  }
  getHealth(projectionName, opts) { return call(() => this[NATIVE].getHealth(projectionName ?? null, options(opts))) }
  async begin() { return new Transaction(await call(() => this[NATIVE].begin()), this[INTEGERS]) }
  async transaction(fn) {
    if (typeof fn !== 'function') throw new TypeError('transaction(fn): fn must be a function')
    const tx = await this.begin()
    let result
    try {
      result = await fn(tx)
    } catch (err) {
      await tx.rollback().catch(() => {})
      throw err
    }
    await tx.commit()
    return result
  }
  [ASYNC_DISPOSE]() { return this.close() }
  toString() { return `${this.constructor.name}(${this[NATIVE].describe()})` }
}

// A JS value as a tagged parameter for the native side (see SqlCell in src/transaction.rs).
function toCell(value, index) {
  if (value === null || value === undefined) return { kind: 'null' }
  switch (typeof value) {
    case 'boolean': return { kind: 'bool', flag: value }
    case 'bigint': return { kind: 'int', int: value }
    case 'string': return { kind: 'text', text: value }
    case 'number':
      return Number.isSafeInteger(value) ? { kind: 'int', int: BigInt(value) } : { kind: 'float', number: value }
    default: break
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError(`params[${index}]: invalid Date`)
    return { kind: 'timestamp', text: value.toISOString() }
  }
  if (value instanceof Uint8Array) return { kind: 'bytes', bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength) }
  if (Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    return { kind: 'json', text: JSON.stringify(value) }
  }
  throw new TypeError(`params[${index}]: unsupported ${value?.constructor?.name ?? typeof value}; expected null, boolean, number, bigint, string, Date, Buffer, a plain object or an array`)
}

function toCells(params) {
  if (params === undefined || params === null) return undefined
  if (!Array.isArray(params)) throw new TypeError('params must be an array')
  return params.map(toCell)
}

// A value read back: integers beyond Number.MAX_SAFE_INTEGER become BigInt.
function fromCell(cell, mode, column) {
  switch (cell.kind) {
    case 'null': return null
    case 'bool': return cell.flag
    case 'int': {
      const n = Number(cell.int)
      return Number.isSafeInteger(n) ? n : safe(mode, cell.int, `column ${column}:`)
    }
    case 'float': return cell.number
    case 'bytes': return cell.bytes
    case 'timestamp': return new Date(cell.text)
    case 'json': return JSON.parse(cell.text)
    default: return cell.text
  }
}

class Transaction {
  constructor(handle, integers = 'bigint') {
    this[NATIVE] = handle
    this[INTEGERS] = integers
  }
  execute(sql, params) { return call(() => this[NATIVE].execute(sql, toCells(params))) }
  async fetchAll(sql, params) {
    const { columns, rows } = await call(() => this[NATIVE].fetchAll(sql, toCells(params)))
    return rows.map((cells) => Object.fromEntries(cells.map((cell, i) => [columns[i], fromCell(cell, this[INTEGERS], columns[i])])))
  }
  savePosition(subscriptionId, position, eventId, eventType) {
    return call(() => this[NATIVE].savePosition(subscriptionId, position, eventId, eventType))
  }
  updateCheckpoint(projectionName, eventId, eventType) {
    return call(() => this[NATIVE].updateCheckpoint(projectionName, eventId, eventType))
  }
  savePositionToken(subscriptionId, token, eventId, eventType) {
    return call(() => this[NATIVE].savePositionToken(subscriptionId, token, eventId, eventType))
  }
  commit() { return call(() => this[NATIVE].commit()) }
  rollback() { return call(() => this[NATIVE].rollback()) }
  get isOpen() { return this[NATIVE].isOpen() }
  async [ASYNC_DISPOSE]() { if (this.isOpen) await this.rollback() }
}

class InMemoryCheckpointRepository extends CheckpointRepository {
  constructor(opts) { super(native.NativeRepository.memory(), options(opts)) }
}

// The checkpoint protocol, declared once: each method calls the native method of its name
// and shapes the result (missing values become null). The native method returns the
// answer itself when the core had it at hand (the in-memory store, an SQLite read by
// primary key), else a Promise of it; either way the method returns a Promise.
// (`mode` is the repository's unsafeIntegers.)
const asIs = (v) => v
const PROTOCOL = {
  getCheckpoint: asIs,
  updateCheckpoint: asIs,
  getPosition: (position, mode) => safe(mode, position, 'position'),
  savePosition: asIs,
  getPositionToken: asIs,
  savePositionToken: asIs,
  getLagMetrics: (lag, mode) => safeFields(mode, withNulls(lag, LAG_FIELDS), INT_FIELDS),
  resetCheckpoint: asIs,
  getAllCheckpoints: (rows, mode) => rows.map((r) => safeFields(mode, withNulls(r, RECORD_FIELDS), INT_FIELDS)),
}
// An answer at hand settles the returned Promise without another turn through `call`.
for (const [name, shape] of Object.entries(PROTOCOL)) {
  Object.defineProperty(CheckpointRepository.prototype, name, {
    value: function (...args) {
      const integers = this[INTEGERS]
      try {
        const answer = this[NATIVE][name](...args)
        if (answer instanceof Promise) {
          return answer.then((value) => shape(value, integers), (err) => { throw translate(err) })
        }
        return Promise.resolve(shape(answer, integers))
      } catch (err) {
        return Promise.reject(translate(err))
      }
    },
    writable: true,
    configurable: true,
  })
}

class SqliteCheckpointRepository extends CheckpointRepository {
  static async open(path, opts) {
    const checked = options(opts)
    const integers = integersOption(checked)
    return new SqliteCheckpointRepository(await call(() => native.openSqlite(path, checked)), { unsafeIntegers: integers })
  }
}

class PostgresCheckpointRepository extends CheckpointRepository {
  static async connect(url, opts) {
    const checked = options(opts)
    const integers = integersOption(checked)
    return new PostgresCheckpointRepository(await call(() => native.connectPostgres(url, checked)), { unsafeIntegers: integers })
  }
}

class MysqlCheckpointRepository extends CheckpointRepository {
  static async connect(url, opts) {
    const checked = options(opts)
    const integers = integersOption(checked)
    return new MysqlCheckpointRepository(await call(() => native.connectMysql(url, checked)), { unsafeIntegers: integers })
  }
}

class CheckpointManager extends EventEmitter {
  #claims = new Map()
  constructor(store, opts) {
    super()
    if (!(store instanceof CheckpointRepository)) {
      throw new TypeError('store must be a waypost repository (InMemoryCheckpointRepository, SqliteCheckpointRepository, PostgresCheckpointRepository, MysqlCheckpointRepository)')
    }
    this[NATIVE] = now(() => new native.NativeManager(store[NATIVE], options(opts)))
  }
  static async start(store, opts) {
    const manager = new this(store, opts)
    await manager.#run(() => manager[NATIVE].start())
    return manager
  }
  get mode() { return this[NATIVE].mode() }
  getWorkerId() { return this[NATIVE].workerId() }
  async #run(run) {
    try {
      return await call(run)
    } finally {
      // The fallback notice itself arrives as a 'WaypostWarning' (WAYPOST_CLAIMS_FALLBACK).
      this[NATIVE].takeWarning()
    }
  }
  async claimFile(url, type, timestamp) {
    const claimed = await this.#run(() => this[NATIVE].claimFile(url, type, timestamp))
    if (claimed) {
      // Lost in the background (taken over, or the lease ran out while the store was
      // unreachable): the claim's signal aborts with the LeaseLostError, and
      // 'leaseLost' (url, error) is emitted, at once rather than at the next call.
      const controller = new AbortController()
      this.#claims.set(url, controller)
      this[NATIVE].watchLease(url, ([code, message]) => {
        const error = new BY_CODE[code](message, code)
        if (this.#claims.get(url) === controller) this.#claims.delete(url)
        controller.abort(error)
        this.emit('leaseLost', url, error)
      })
    }
    return claimed
  }
  signal(url) { return this.#claims.get(url)?.signal ?? null }
  #ended(url) { this.#claims.delete(url) }
  async completeFile(url, stats) {
    await this.#run(() => this[NATIVE].completeFile(url, stats))
    this.#ended(url)
  }
  async failFile(url, message) {
    await this.#run(() => this[NATIVE].failFile(url, message))
    this.#ended(url)
  }
  async releaseFile(url) {
    await this.#run(() => this[NATIVE].releaseFile(url))
    this.#ended(url)
  }
  isProcessed(url) { return this.#run(() => this[NATIVE].isProcessed(url)) }
  getStats() { return this.#run(() => this[NATIVE].getStats()) }
  async close() {
    await call(() => this[NATIVE].close())
    this.#claims.clear()
  }
  [ASYNC_DISPOSE]() { return this.close() }
  toString() { return `CheckpointManager(${this.getWorkerId()}, ${this.mode})` }
}

class Checkpointer {
  constructor(store, projectionName, opts) {
    if (!(store instanceof CheckpointRepository)) throw new TypeError('store must be a waypost repository')
    checkStrings(projectionName, 'projectionName')
    this[NATIVE] = now(() => new native.NativeCheckpointer(store[NATIVE], projectionName, options(opts)))
  }
  record(position, eventId, eventType) { return call(() => this[NATIVE].record(position, eventId, eventType)) }
  begin(position) { return now(() => this[NATIVE].begin(position)) }
  ack(position, eventId, eventType) { return call(() => this[NATIVE].ack(position, eventId, eventType)) }
  get inFlight() { return this[NATIVE].inFlight }
  flush() { return call(() => this[NATIVE].flush()) }
  close() { return call(() => this[NATIVE].close()) }
  [ASYNC_DISPOSE]() { return this.close() }
  saves() { return call(() => this[NATIVE].saves()) }
  unsaved() { return call(() => this[NATIVE].unsaved()) }
}

// Where a consumer whose events are handled in parallel may safely checkpoint.
class Frontier {
  #native
  constructor(start) {
    this.#native = now(() => new native.NativeFrontier(start ?? undefined))
  }
  begin(position) { return now(() => this.#native.begin(position)) }
  ack(position) { return now(() => this.#native.ack(position)) }
  get start() { return this.#native.start ?? null }
  get committed() { return this.#native.committed ?? null }
  get inFlight() { return this.#native.inFlight }
  toString() { return `Frontier(start=${this.start}, committed=${this.committed}, inFlight=${this.inFlight})` }
}

const CLAIM_RECORD_FIELDS = ['workerId', 'leaseExpiresAt', 'startedAt', 'completedAt', 'errorMessage', 'stats']

class ClaimLedger {
  constructor(store, opts) {
    if (!(store instanceof CheckpointRepository)) throw new TypeError('store must be a waypost repository')
    this[NATIVE] = now(() => new native.NativeLedger(store[NATIVE], options(opts)))
  }
  async claim(key, itemType, itemTimestamp, workerId, leaseMs) {
    return (await call(() => this[NATIVE].claim(key, itemType, itemTimestamp, workerId, leaseMs))) ?? null
  }
  heartbeat(claim, leaseMs) { return call(() => this[NATIVE].heartbeat(claim, leaseMs)) }
  complete(claim, stats) { return call(() => this[NATIVE].complete(claim, stats)) }
  fail(claim, message) { return call(() => this[NATIVE].fail(claim, message)) }
  release(claim) { return call(() => this[NATIVE].release(claim)) }
  isProcessed(key) { return call(() => this[NATIVE].isProcessed(key)) }
  async get(key) { return withNulls((await call(() => this[NATIVE].get(key))) ?? null, CLAIM_RECORD_FIELDS) }
  stats() { return call(() => this[NATIVE].stats()) }
  async list(status, limit) {
    return (await call(() => this[NATIVE].list(status, limit))).map((r) => withNulls(r, CLAIM_RECORD_FIELDS))
  }
}

async function openRepository(url, opts) {
  const checked = options(opts)
  const integers = { unsafeIntegers: integersOption(checked) }
  const kind = await call(() => native.repositoryKind(url))
  if (kind === 'memory') return new InMemoryCheckpointRepository(integers)
  if (kind === 'sqlite') return SqliteCheckpointRepository.open(url, integers)
  if (kind === 'mysql') return MysqlCheckpointRepository.connect(url, integers)
  return PostgresCheckpointRepository.connect(url, integers)
}

module.exports.CheckpointRepository = CheckpointRepository
module.exports.InMemoryCheckpointRepository = InMemoryCheckpointRepository
module.exports.SqliteCheckpointRepository = SqliteCheckpointRepository
module.exports.PostgresCheckpointRepository = PostgresCheckpointRepository
module.exports.MysqlCheckpointRepository = MysqlCheckpointRepository
module.exports.openRepository = openRepository
module.exports.CheckpointManager = CheckpointManager
module.exports.ClaimLedger = ClaimLedger
module.exports.Checkpointer = Checkpointer
module.exports.Frontier = Frontier
module.exports.Transaction = Transaction
module.exports.WaypostError = WaypostError
module.exports.InvalidArgumentError = InvalidArgumentError
module.exports.NotFoundError = NotFoundError
module.exports.ConflictError = ConflictError
module.exports.UnavailableError = UnavailableError
module.exports.BackendError = BackendError
module.exports.UnsupportedError = UnsupportedError
module.exports.LeaseLostError = LeaseLostError
