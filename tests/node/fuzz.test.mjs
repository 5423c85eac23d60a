// Hostile-input property tests of the Node binding on memory, SQLite and PostgreSQL.
//
// Every public method of the repository protocol, and the openers with bad options, get
// input from a seeded generator of this file's own: wrong JS types, NaN and ±Infinity,
// 2^53+1 and other unsafe numbers, bigints in and out of range, negative positions, empty/255/256/10,000-
// character names, NUL characters, lone surrogates ('\ud800'), malformed UUIDs and tokens,
// SQL-looking names, event types and identifiers. The property, per call:
//
// - valid input succeeds and reads back exactly (every getter and the whole listing agree
//   with a model of the store kept by the test);
// - anything else rejects with InvalidArgumentError (code 'InvalidArgument') or TypeError,
//   never another error, never a crash;
// - a rejected call leaves the store as it was: getAllCheckpoints() (and, on SQLite, the
//   raw rows read with node:sqlite where this Node has it) compare equal before and after.
//
// Seeded and bounded: WAYPOST_FUZZ_CASES (default 150) cases per method and backend,
// WAYPOST_FUZZ_SEED (default 20261201). Violations are collected (the shortest input of
// each kind kept) and listed when a backend's test ends; the counts are printed at the
// end and written to .demo/fuzz-counts-node.txt.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, existsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import waypost from '../../bindings-node/index.js'
import { freshMysqlDatabase, mysqlDatabase, postgresDatabase } from './support.mjs'

const CASES = Number(process.env.WAYPOST_FUZZ_CASES) || 150
const SEED = Number(process.env.WAYPOST_FUZZ_SEED) || 20261201
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const { InvalidArgumentError, WaypostError } = waypost

let rawSqlite = null
try {
  // node:sqlite (Node 22.5+) reads the raw rows; without it only the listing is compared.
  process.removeAllListeners('warning')
  rawSqlite = createRequire(import.meta.url)('node:sqlite')
} catch { /* older Node */ }

// ---------------------------------------------------------------------------------------
// A seeded generator (mulberry32) and the inputs

function rng(label) {
  let h = SEED >>> 0
  for (const c of label) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0
  let a = h
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n) => Math.floor(next() * n)
  const pick = (xs) => xs[int(xs.length)]
  // weighted choice among generator functions: [[weight, fn], …]
  const oneOf = (choices) => {
    let r = next() * choices.reduce((s, [w]) => s + w, 0)
    for (const [w, f] of choices) { if ((r -= w) < 0) return f() }
    return choices[choices.length - 1][1]()
  }
  const text = (max, alphabet) => {
    let s = ''
    const n = int(max + 1)
    for (let i = 0; i < n; i++) {
      s += alphabet ? pick(alphabet) : randomChar()
    }
    return s
  }
  const randomChar = () => oneOf([
    [6, () => String.fromCharCode(0x20 + int(0x5f))],
    [2, () => String.fromCharCode(0xa0 + int(0x700))],
    [1, () => String.fromCodePoint(0x10000 + int(0x10000))],
    [1, () => String.fromCharCode(int(0x20))],
  ])
  return { next, int, pick, oneOf, text }
}

const VALID_POOL = [
  'orders', 'OrderProjection', 'x"; DROP TABLE t; --', "'; DELETE FROM projection_checkpoints; --",
  "Robert'); DROP TABLE students;--", 'projection_checkpoints', 'a b  c', ' ', '$1', '?1', '%s%n', '\\x00',
  'ünïcödé', '名前', 'emoji 🎉', 'tab\there\nnewline', '\ufeffbom', '\uffff', 'a'.repeat(255), 'é'.repeat(255),
  '🎉'.repeat(255),
]
const SURROGATES = ['\ud800', '\udbff', '\udc00', '\udfff']
const hasLoneSurrogate = (s) => /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s)
const chars = (s) => [...s].length

const nameVerdict = (s) => (!hasLoneSurrogate(s) && s.length > 0 && !s.includes('\0') && chars(s) <= 255 ? 'ok' : 'invalid')
const tokenVerdict = (s) => (!hasLoneSurrogate(s) && s.length > 0 && !s.includes('\0') && chars(s) <= 4096 ? 'ok' : 'invalid')

function wrongType(g) {
  return g.pick([null, undefined, 5, 0, NaN, Infinity, true, 1n, ['orders'], { name: 'orders' }, Symbol('s'),
    () => 'orders', Buffer.from('orders'), new Date(0)])
}

function textArg(g, verdict, pool, long) {
  return g.oneOf([
    [6, () => { const s = g.pick(pool); return [s, verdict(s)] }],
    [1, () => ['', 'invalid']],
    [1, () => { const s = g.pick(long); return [s, verdict(s)] }],
    [1, () => { const s = `${g.text(3)}\0${g.text(3)}`; return [s, 'invalid'] }],
    [1, () => { const s = `${g.text(5)}${g.pick(SURROGATES)}${g.text(5)}`; return [s, verdict(s)] }],
    [2, () => { const s = g.text(24); return [s, verdict(s)] }],
    [1, () => { const s = g.text(300, [...'abc \'";-\\%$?()\0\u00e9']); return [s, verdict(s)] }],
    [1, () => [wrongType(g), 'type']],
  ])
}

const nameArg = (g) => textArg(g, nameVerdict, VALID_POOL, ['a'.repeat(256), 'é'.repeat(256), '🎉'.repeat(256), 'x'.repeat(10000)])
const tokenArg = (g) => textArg(g, tokenVerdict,
  ['0/16B3748', 'cursor:eyJpZCI6NDJ9', 'x"; DROP TABLE t; --', 't'.repeat(4096), 'é'.repeat(4096)],
  ['t'.repeat(4097), 'é'.repeat(4097), 't'.repeat(10000)])

function positionArg(g) {
  return g.oneOf([
    [4, () => [g.int(1000000), 'ok']],
    [1, () => [g.pick([0, 1, 2 ** 53 - 1, Number.MAX_SAFE_INTEGER, -0]), 'ok']],
    [2, () => [g.pick([-1, -(2 ** 53), 2 ** 53, 2 ** 53 + 1, 2 ** 63, 1.5, -0.5, 1e300, Number.MIN_VALUE, NaN, Infinity, -Infinity, Number.EPSILON]), 'invalid']],
    [1, () => { const p = (g.next() - 0.5) * 2 ** (g.int(70)); return [p, Number.isSafeInteger(p) && p >= 0 ? 'ok' : 'invalid'] }],
    [1, () => g.pick([[0n, 'ok'], [1n, 'ok'], [123456n, 'ok'], [-1n, 'invalid'], [2n ** 63n, 'invalid'], [2n ** 64n, 'invalid'], [-(2n ** 64n), 'invalid']])],
    [1, () => [g.pick(['1', null, undefined, true, [1], {}, new Date(0)]), 'type']],
  ])
}

function uuidText(form) {
  const u = randomUUID()
  return [[u, u], [u.toUpperCase(), u], [u.replaceAll('-', ''), u], [`{${u}}`, u], [`urn:uuid:${u}`, u]][form]
}

function eventIdArg(g) {
  return g.oneOf([
    [3, () => { const [text, id] = uuidText(g.int(5)); return [text, 'ok', id] }],
    [3, () => {
      const u = randomUUID()
      const bad = ['', u.slice(1), `${u}0`, u.replace('-', ''), `${u.slice(0, 5)}g${u.slice(6)}`, `${u}\0`,
        'x"; DROP TABLE t; --', '0'.repeat(10000), `${u.slice(0, 8)}\ud800${u.slice(9)}`, ` ${u}`][g.int(10)]
      return [bad, 'invalid', null]
    }],
    [1, () => [g.text(40), 'any', null]],
    [1, () => [wrongType(g), 'type', null]],
  ])
}

function eventTypesArg(g) {
  return g.oneOf([
    [1, () => [undefined, 'ok']],
    [1, () => [null, 'ok']],
    [1, () => [[], 'ok']],
    [4, () => {
      const items = Array.from({ length: 1 + g.int(3) }, () => nameArg(g))
      return [items.map(([v]) => v), combine(...items.map(([, k]) => k))]
    }],
    [1, () => [g.pick(['OrderPlaced', 5, {}, true, 1n, new Set(['OrderPlaced'])]), 'type']],
  ])
}

// The verdict of a call: a wrong type rejects with TypeError (or InvalidArgumentError when
// a value converted first is bad); else any bad value is InvalidArgumentError.
function combine(...verdicts) {
  if (verdicts.includes('type')) return 'type'
  if (verdicts.includes('invalid')) return 'invalid'
  return verdicts.includes('any') ? 'any' : 'ok'
}

const METHODS = ['savePosition', 'updateCheckpoint', 'savePositionToken', 'getCheckpoint', 'getPosition',
  'getPositionToken', 'getLagMetrics', 'getAllCheckpoints', 'resetCheckpoint']

/** { args, verdict, id } for one call of `method`. */
function callArgs(g, method) {
  const [n, nv] = nameArg(g)
  switch (method) {
    case 'savePosition': {
      const [p, pv] = positionArg(g); const [i, iv, id] = eventIdArg(g); const [t, tv] = nameArg(g)
      return { args: [n, p, i, t], verdict: combine(nv, pv, iv, tv), id }
    }
    case 'updateCheckpoint': {
      const [i, iv, id] = eventIdArg(g); const [t, tv] = nameArg(g)
      return { args: [n, i, t], verdict: combine(nv, iv, tv), id }
    }
    case 'savePositionToken': {
      const [k, kv] = tokenArg(g); const [i, iv, id] = eventIdArg(g); const [t, tv] = nameArg(g)
      return { args: [n, k, i, t], verdict: combine(nv, kv, iv, tv), id }
    }
    case 'getLagMetrics': {
      const [types, tv] = eventTypesArg(g)
      return { args: [n, types], verdict: combine(nv, tv) }
    }
    case 'getAllCheckpoints': return { args: [], verdict: 'ok' }
    default: return { args: [n], verdict: nv }
  }
}

// ---------------------------------------------------------------------------------------
// Reporting

const COUNTS = {}
function show(v) {
  let s
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : typeof v === 'bigint' ? `${v}n` : typeof v === 'symbol' ? v.toString()
      : typeof v === 'function' ? '[function]' : v === undefined ? 'undefined' : Number.isNaN(v) ? 'NaN'
        : v instanceof Date || Buffer.isBuffer(v) || v instanceof Set ? `${v.constructor.name}(${String(v)})`
          : typeof v === 'number' ? String(v) : JSON.stringify(v)
  } catch { s = String(v) }
  return s.length <= 60 ? s : `${s.slice(0, 30)}…(${s.length} chars)`
}
const describe = (method, args) => `${method}(${args.map(show).join(', ')})`

class Tally {
  constructor(backend) {
    this.backend = backend
    this.counts = COUNTS[backend] ??= { inputs: 0, rejected: 0, crashes: 0, violations: 0 }
    this.violations = new Map()
  }
  violation(kind, call, what) {
    const entry = this.violations.get(kind) ?? { call, what, n: 0 }
    entry.n++
    if (call.length < entry.call.length) Object.assign(entry, { call, what })
    this.violations.set(kind, entry)
    this.counts.violations = this.violations.size
  }
  assertClean() {
    const listed = [...this.violations].map(([kind, { call, what, n }]) => `- ${kind} (${n}x)\n    input: ${call}\n    got: ${what}`)
    assert.equal(listed.length, 0, `node ${this.backend}: ${listed.length} kinds of violation\n${listed.join('\n')}`)
  }
}

// An error is typed when it is InvalidArgumentError (code 'InvalidArgument') or a TypeError.
function classify(err) {
  if (/panicked/i.test(String(err?.message))) return 'crash'
  if (err instanceof InvalidArgumentError && err.code === 'InvalidArgument') return 'invalid'
  if (err instanceof TypeError) return 'type'
  return 'untyped'
}

// ---------------------------------------------------------------------------------------
// The model and the checks

function rawRows(path) {
  if (!path || !rawSqlite) return null
  const db = new rawSqlite.DatabaseSync(path, { readOnly: true })
  try {
    return JSON.stringify(db.prepare('SELECT * FROM projection_checkpoints ORDER BY projection_name').all())
  } finally { db.close() }
}

const byteOrder = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))
const plain = (c) => ({ ...c, lastProcessedAt: c.lastProcessedAt?.getTime() ?? null })
const sameListing = (a, b) => JSON.stringify(a.map(plain)) === JSON.stringify(b.map(plain))

function compare(all, model) {
  const names = all.map((c) => c.projectionName)
  const expected = [...model.keys()].sort(byteOrder)
  if (JSON.stringify(names) !== JSON.stringify(expected)) return `names ${show(names)}, expected ${show(expected)}`
  for (const c of all) {
    const e = model.get(c.projectionName)
    const got = [c.lastEventId, c.lastEventType, c.globalPosition, c.positionToken, c.eventsProcessed]
    const want = [e.id, e.type, e.position, e.token, e.count]
    if (JSON.stringify(got) !== JSON.stringify(want) || !(c.lastProcessedAt instanceof Date)) {
      return `record ${show(c.projectionName)}: got ${show(got)}, expected ${show(want)}`
    }
  }
  return null
}

function checkSuccess(store, method, { args, id }, result, window, all) {
  const model = store.model
  const name = args[0]
  const prev = typeof name === 'string' ? model.get(name) : undefined
  if (['savePosition', 'updateCheckpoint', 'savePositionToken'].includes(method)) {
    if (result !== undefined) return `resolved ${show(result)}`
    const eventId = id ?? String(args[method === 'updateCheckpoint' ? 1 : 2]).toLowerCase()
    model.set(name, {
      id: eventId,
      type: args[args.length - 1],
      position: method === 'savePosition' ? Number(args[1]) + 0 : prev?.position ?? null, // read back as a number while safe
      token: method === 'savePositionToken' ? args[1] : prev?.token ?? null,
      count: (prev?.count ?? 0) + 1,
    })
    const at = all.find((c) => c.projectionName === name)?.lastProcessedAt?.getTime()
    if (!(at >= window[0] - 1000 && at <= window[1] + 1000)) return `lastProcessedAt ${at} is not the time of the call`
  } else if (method === 'resetCheckpoint') {
    model.delete(name)
  } else if (method === 'getCheckpoint') {
    if (result !== (prev?.id ?? null)) return `read ${show(result)}, expected ${show(prev?.id ?? null)}`
  } else if (method === 'getPosition') {
    if (result !== (prev?.position ?? null)) return `read ${show(result)}, expected ${show(prev?.position ?? null)}`
  } else if (method === 'getPositionToken') {
    if (result !== (prev?.token ?? null)) return `read ${show(result)}, expected ${show(prev?.token ?? null)}`
  } else if (method === 'getLagMetrics') {
    if ((result === null) !== (prev === undefined)) return `lag ${show(result)}, expected a record: ${prev !== undefined}`
    if (result && prev) {
      const behind = prev.position == null ? null : Math.max(0, store.head - prev.position)
      const ok = result.projectionName === name && result.eventsProcessed === prev.count &&
        result.lastEventId === prev.id && result.streamHead === store.head && result.eventsBehind === behind &&
        Number.isFinite(result.lagSeconds) && result.lagSeconds >= 0
      if (!ok) return `lag ${show(result)} does not match ${show(prev)} (head ${store.head})`
    }
  } else if (method === 'getAllCheckpoints') {
    if (!sameListing(result, all)) return 'two listings in a row differ'
  }
  return compare(all, model)
}

async function checkCall(store, method, call) {
  const { tally, repo } = store
  tally.counts.inputs++
  const label = `${store.backend} ${method}`
  const text = describe(method, call.args)
  const before = await repo.getAllCheckpoints()
  const rawBefore = rawRows(store.sqlitePath)
  const started = Date.now()
  let error = null
  let result
  try {
    result = await repo[method](...call.args)
  } catch (err) {
    error = err ?? new Error('rejected with nothing')
  }
  const ended = Date.now()
  const afterAll = await repo.getAllCheckpoints()
  if (error === null) {
    if (call.verdict === 'invalid' || call.verdict === 'type') {
      tally.violation(`${label}: accepted input that must reject (${call.verdict})`, text, show(result))
    }
    const what = checkSuccess(store, method, call, result, [started, ended], afterAll)
    if (what !== null && call.verdict !== 'invalid' && call.verdict !== 'type') {
      tally.violation(`${label}: no exact round trip`, text, what)
    }
    if (what !== null) resync(store, afterAll)
    return
  }
  tally.counts.rejected++
  const kind = classify(error)
  if (kind === 'crash') tally.counts.crashes++
  const message = `${error?.constructor?.name} ${error?.code ?? ''}: ${String(error?.message).slice(0, 160)}`
  if (kind === 'untyped' || kind === 'crash') {
    tally.violation(`${label}: untyped ${error?.constructor?.name}${error?.code ? ` (code ${error.code})` : ''}`, text, message)
  } else if (call.verdict === 'ok') {
    tally.violation(`${label}: rejected valid input`, text, message)
  } else if (kind === 'type' && call.verdict !== 'type') {
    tally.violation(`${label}: TypeError for a bad value (expected InvalidArgumentError)`, text, message)
  }
  if (!sameListing(before, afterAll)) tally.violation(`${label}: rejected call changed the store`, text, message)
  if (rawRows(store.sqlitePath) !== rawBefore) tally.violation(`${label}: rejected call changed the raw rows`, text, message)
}

function resync(store, all) {
  store.model = new Map(all.map((c) => [c.projectionName, {
    id: c.lastEventId, type: c.lastEventType, position: c.globalPosition, token: c.positionToken, count: c.eventsProcessed,
  }]))
}

async function fuzzStore(backend, repo, sqlitePath = null) {
  const store = { backend, repo, sqlitePath, model: new Map(), head: 3, tally: new Tally(backend) }
  await repo.createEventsTable()
  await repo.appendEvents(['OrderPlaced', 'x"; DROP TABLE t; --', 'OrderShipped'].map((eventType) => ({ eventId: randomUUID(), eventType })))
  for (const method of METHODS) {
    const g = rng(`${backend} ${method}`)
    const n = method === 'getAllCheckpoints' ? Math.min(CASES, 20) : CASES
    for (let i = 0; i < n; i++) await checkCall(store, method, callArgs(g, method))
  }
  await repo.close()
  store.tally.assertClean()
}

const pg = postgresDatabase()
const pgSchema = () => `wp_fuzz_${randomUUID().replaceAll('-', '').slice(0, 12)}`

test('fuzz: memory', async () => {
  await fuzzStore('memory', new waypost.InMemoryCheckpointRepository())
})

test('fuzz: sqlite', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'wp-fuzz-')), 'fuzz.db')
  await fuzzStore('sqlite', await waypost.SqliteCheckpointRepository.open(path), path)
})

test('fuzz: postgres', { skip: pg.skip }, async () => {
  await fuzzStore('postgres', await waypost.PostgresCheckpointRepository.connect(pg.url, { schema: pgSchema(), poolSize: 2 }))
})

const my = mysqlDatabase()
test('fuzz: mysql', { skip: my.skip }, async () => {
  await fuzzStore('mysql', await waypost.MysqlCheckpointRepository.connect(freshMysqlDatabase(), { poolSize: 2 }))
})

// ---------------------------------------------------------------------------------------
// Openers with bad options

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/
const BAD_IDENTS = ['', '1abc', 'x"; DROP TABLE t; --', 't"', "it's", 'a b', 'a.b', 'public.events', 'é', 'a\0b', '; --',
  '$1', '[t]', '`t`', `a${'b'.repeat(63)}`, 'x'.repeat(10000), 't\ud800']

function identArg(g) {
  return g.oneOf([
    [4, () => { const s = g.pick([...'abcXYZ_']) + g.text(15, [...'abcdefXYZ0123456789_']); return [s, 'ok'] }],
    [1, () => ['a'.repeat(63), 'ok']],
    [3, () => [g.pick(BAD_IDENTS), 'invalid']],
    [1, () => { const s = g.text(10); return [s, IDENT.test(s) && s.length <= 63 ? 'ok' : 'invalid'] }],
    [1, () => [g.pick([5, true, null, ['t'], {}, 1n]), 'type']],
  ])
}

function msArg(g) {
  return g.oneOf([
    [3, () => [1000 + g.int(10000), 'ok']],
    [2, () => [g.pick([-1, -1e-9, NaN, -Infinity, Infinity, 1e300]), 'invalid']],
    [1, () => [g.pick(['5', true, 1n, [5], {}]), 'type']],
  ])
}

/** options object with per-field verdicts; `undefined` fields are left out. */
function optionsArg(g, fields) {
  const options = {}
  const verdicts = {}
  for (const [key, gen] of Object.entries(fields)) {
    if (g.next() < 0.5) continue
    const [value, verdict] = gen(g)
    if (key.startsWith('events.')) {
      options.events ??= {}
      options.events[key.slice(7)] = value
    } else options[key] = value
    verdicts[key] = verdict
  }
  // Column names do not count when there is no events table (a wrong type still does).
  if (options.events?.eventsTable === false) {
    for (const key of Object.keys(verdicts)) if (key.startsWith('events.') && verdicts[key] === 'invalid') verdicts[key] = 'any'
  }
  return { options, verdict: combine(...Object.values(verdicts)) }
}

const eventsTableArg = (g) => g.oneOf([[1, () => [false, 'ok']], [4, () => identArg(g)]])
const positionColumnArg = (g) => g.oneOf([[1, () => [false, 'ok']], [4, () => identArg(g)]])

async function openRoundTrip(repo) {
  const id = randomUUID()
  await repo.savePosition('x"; DROP TABLE t; --', 42, id, 'T')
  const got = [await repo.getPosition('x"; DROP TABLE t; --'), (await repo.getAllCheckpoints()).map((c) => c.lastEventId)]
  await repo.close()
  return JSON.stringify(got) === JSON.stringify([42, [id]]) ? null : `read back ${show(got)}`
}

async function checkOpen(tally, label, text, verdict, opener, untouched) {
  tally.counts.inputs++
  let repo
  try {
    repo = await opener()
  } catch (err) {
    tally.counts.rejected++
    const kind = classify(err)
    if (kind === 'crash') tally.counts.crashes++
    const message = `${err?.constructor?.name} ${err?.code ?? ''}: ${String(err?.message).slice(0, 160)}`
    if (kind === 'untyped' || kind === 'crash') tally.violation(`${label}: untyped ${err?.constructor?.name}${err?.code ? ` (code ${err.code})` : ''}`, text, message)
    else if (verdict === 'ok') tally.violation(`${label}: rejected valid options`, text, message)
    else if (kind === 'type' && verdict !== 'type') tally.violation(`${label}: TypeError for a bad value (expected InvalidArgumentError)`, text, message)
    if (!untouched()) tally.violation(`${label}: rejected options touched the store`, text, message)
    return
  }
  if (verdict === 'invalid' || verdict === 'type') {
    let what
    try { what = `first call resolved ${show(await repo.getAllCheckpoints())}` } catch (e) { what = `first call rejected: ${e?.constructor?.name} ${e?.message?.slice(0, 100)}` }
    await repo.close().catch(() => {})
    tally.violation(`${label}: accepted options that must reject (${verdict})`, text, what)
    return
  }
  const what = await openRoundTrip(repo)
  if (what !== null) tally.violation(`${label}: opened store does not round-trip`, text, what)
}

const EVENTS_FIELDS = {
  'events.eventsTable': eventsTableArg,
  'events.eventIdColumn': identArg,
  'events.eventTypeColumn': identArg,
  'events.timestampColumn': identArg,
  'events.positionColumn': positionColumnArg,
}

test('fuzz: sqlite open', async () => {
  const tally = new Tally('sqlite-open')
  const dir = mkdtempSync(join(tmpdir(), 'wp-fuzz-open-'))
  const g = rng('sqlite open')
  for (let i = 0; i < CASES; i++) {
    const { options, verdict: optionsVerdict } = optionsArg(g, {
      table: identArg,
      ...EVENTS_FIELDS,
      busyTimeoutMs: msArg,
      synchronous: (g) => g.oneOf([[3, () => [g.pick(['FULL', 'NORMAL', 'full']), 'ok']], [1, () => [g.pick(['', 'OFF', 'x"; PRAGMA', 'FULL\0', '\ud800']), 'invalid']], [1, () => [g.pick([1, true]), 'type']]]),
    })
    const verdict = optionsVerdict
    const wrongOptions = g.next() < 0.05 ? g.pick(['options', 5, true]) : options
    const path = join(dir, `open-${i}.db`)
    const v = wrongOptions === options ? verdict : 'type'
    await checkOpen(tally, 'sqlite open', `SqliteCheckpointRepository.open(path, ${show(wrongOptions)})`, v,
      () => waypost.SqliteCheckpointRepository.open(path, wrongOptions), () => !existsSync(path))
  }
  tally.assertClean()
})

test('fuzz: postgres open', { skip: pg.skip }, async () => {
  const tally = new Tally('postgres-open')
  const schema = pgSchema()
  const g = rng('postgres open')
  const schemasNamed = (name) => {
    if (typeof name !== 'string' || name.includes('\0') || hasLoneSurrogate(name)) return 0
    const sql = `SELECT count(*) FROM pg_namespace WHERE nspname = '${name.replaceAll("'", "''")}'`
    return Number(execFileSync('psql', ['-X', '-w', pg.url, '-Atqc', sql], { encoding: 'utf8' }).trim())
  }
  for (let i = 0; i < CASES; i++) {
    const [url, urlVerdict] = g.oneOf([
      [6, () => [pg.url, 'ok']],
      [1, () => [g.pick(['postgres://[::1/db', 'postgres://u@h:99999/db', 'postgres://u@h:notaport/db', 'postgres://\ud800@h/db']), 'invalid']],
      [1, () => [g.pick([5, null, undefined, {}]), 'type']],
    ])
    const [schemaValue, schemaVerdict] = g.next() < 0.6 ? [schema, 'ok'] : identArg(g)
    const usable = schemaVerdict !== 'ok' || schemaValue === schema
    if (!usable) { i--; continue }
    const { options, verdict } = optionsArg(g, {
      table: identArg,
      ...EVENTS_FIELDS,
      'events.eventsSchema': (g) => (g.next() < 0.5 ? [schema, 'ok'] : identArg(g)),
      poolSize: (g) => g.oneOf([[3, () => [1 + g.int(3), 'ok']], [2, () => [g.pick([0, -1, 2 ** 32, 1.5, NaN, Infinity, 2 ** 53 + 1]), 'invalid']], [1, () => [g.pick(['2', true, 1n]), 'type']]]),
      connectTimeoutMs: msArg,
    })
    // A valid events schema other than the scratch one would be created outside it: only bad ones.
    if (options.events?.eventsSchema !== undefined && typeof options.events.eventsSchema === 'string' &&
      IDENT.test(options.events.eventsSchema) && options.events.eventsSchema.length <= 63 && options.events.eventsSchema !== schema) {
      options.events.eventsSchema = schema
    }
    options.schema = schemaValue
    const v = combine(urlVerdict, schemaVerdict, verdict)
    const bad = schemaValue !== schema ? schemaValue : null
    const before = bad === null ? 0 : schemasNamed(bad)
    await checkOpen(tally, 'postgres open', `PostgresCheckpointRepository.connect(${show(url)}, ${show(options)})`, v,
      () => waypost.PostgresCheckpointRepository.connect(url, options), () => bad === null || schemasNamed(bad) === before)
  }
  tally.assertClean()
})

test('fuzz: openRepository(url)', async () => {
  const tally = new Tally('open-url')
  const dir = mkdtempSync(join(tmpdir(), 'wp-fuzz-url-'))
  const g = rng('open url')
  for (let i = 0; i < CASES; i++) {
    const [url, verdict] = g.oneOf([
      [1, () => [g.pick(['memory:', 'memory://']), 'ok']],
      [2, () => [`sqlite:${dir}/${g.text(10, [...'abc012_'])}x.db`, 'ok']],
      [1, () => [g.pick(['sqlite:', 'sqlite://', 'sqlite:x.db?mode=ro', 'memory', 'redis://h/db', '', 'MEMORY:',
        'x"; DROP TABLE t; --', 'postgres:/', '\0', 'memory:\ud800', '\ud800']), 'invalid']],
      [2, () => { const s = g.text(20); return [s, /^(memory|sqlite|postgres|mysql|mariadb)/.test(s) ? 'any' : 'invalid'] }],
      [1, () => [g.pick([null, undefined, 5, ['memory:'], {}, Buffer.from('memory:')]), 'type']],
    ])
    await checkOpen(tally, 'openRepository', `openRepository(${show(url)})`, verdict, () => waypost.openRepository(url), () => true)
  }
  tally.assertClean()
})

after(() => {
  const lines = Object.entries(COUNTS).map(([backend, c]) =>
    `fuzz: node ${backend} ${c.inputs} inputs, ${c.rejected} rejected, ${c.crashes} crashes, ${c.violations} violations`)
  mkdirSync(join(ROOT, '.demo'), { recursive: true })
  writeFileSync(join(ROOT, '.demo', 'fuzz-counts-node.txt'), lines.map((l) => `${l}\n`).join(''))
  for (const line of lines) console.log(line)
})
