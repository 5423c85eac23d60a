// The shared conformance cases (tests/conformance/cases), run through the Node binding
// against memory, SQLite and PostgreSQL. The runner mirrors core/src/conformance.rs:
// same operations, same JSON forms of the records (camelCase names mapped back to the
// cases' snake_case), same matchers.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import waypost from '../../bindings-node/index.js'
import { freshMysqlDatabase, loadCases, matches, mysqlDatabase, postgresDatabase, snake } from './support.mjs'

const casesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'conformance', 'cases')
const cases = loadCases(casesDir)


const iso = (d) => {
  if (d == null) return null
  // Python's isoformat(): microseconds when not zero, +00:00. A JS Date has milliseconds,
  // so the runner compares timestamps by the "$recent" matcher only.
  return d.toISOString().replace('Z', '+00:00')
}


function toJson(value) {
  if (Array.isArray(value)) return value.map(toJson)
  if (value instanceof Date) return iso(value)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), toJson(v)]))
  }
  return value
}

// Event times go in as ISO strings with microseconds: the checkpoint's exact time is its
// lag metrics' lastProcessedAt, a Date whose own `microseconds` holds the part below a
// millisecond.
async function eventTime(repo, at) {
  if (at == null || at === 'now') return undefined
  if (typeof at === 'string') return at
  const base = (await repo.getLagMetrics(at.after_checkpoint)).lastProcessedAt
  const micros = BigInt(base.getTime()) * 1000n + BigInt(base.microseconds) + BigInt(at.offset_us)
  const seconds = micros / 1000000n
  const rest = ((micros % 1000000n) + 1000000n) % 1000000n
  const whole = new Date(Number(micros >= 0n || rest === 0n ? seconds : seconds - 1n) * 1000).toISOString().slice(0, 19)
  return `${whole}.${rest.toString().padStart(6, '0')}+00:00`
}

async function perform(repo, step) {
  const a = step.args ?? {}
  switch (step.op) {
    case 'get_checkpoint': return repo.getCheckpoint(a.name)
    case 'update_checkpoint': return repo.updateCheckpoint(a.name, a.event_id, a.event_type)
    case 'get_position': return repo.getPosition(a.name)
    case 'save_position': return repo.savePosition(a.name, a.position, a.event_id, a.event_type)
    case 'get_position_token': return repo.getPositionToken(a.name)
    case 'save_position_token': return repo.savePositionToken(a.name, a.token, a.event_id, a.event_type)
    case 'get_lag_metrics': return repo.getLagMetrics(a.name, a.event_types)
    case 'reset_checkpoint': return repo.resetCheckpoint(a.name)
    case 'get_all_checkpoints': return repo.getAllCheckpoints()
    case 'stream_head': return repo.streamHead()
    case 'progress': return repo.getProgress(a.name, a.stall_after_s == null ? undefined : { stallAfterMs: a.stall_after_s * 1000 })
    case 'health': {
      const ms = (s) => (s == null ? undefined : s * 1000)
      return repo.getHealth(a.name, {
        stallAfterMs: ms(a.stall_after_s),
        degradedEventsBehind: a.degraded_events_behind,
        unhealthyEventsBehind: a.unhealthy_events_behind,
        degradedStallMs: ms(a.degraded_stall_s),
        unhealthyStallMs: ms(a.unhealthy_stall_s),
      })
    }
    case 'create_events_table': return repo.createEventsTable()
    case 'create_lag_index': return repo.createLagIndex()
    case 'append_events': {
      const events = []
      for (const e of a.events) events.push({ eventId: e.event_id, eventType: e.event_type, timestamp: await eventTime(repo, e.at) })
      return repo.appendEvents(events)
    }
    default: throw new Error(`unknown op ${step.op}`)
  }
}

// The transaction steps: one current transaction per case (`repo.begin()`).
async function performTx(repo, state, step, ns) {
  const a = step.args ?? {}
  const sql = () => a.sql.replaceAll('{ns}', ns)
  if (step.op === 'begin') {
    state.tx = await repo.begin()
    return null
  }
  const tx = state.tx
  switch (step.op) {
    case 'commit': return tx.commit()
    case 'rollback': return tx.rollback()
    case 'tx_execute': return tx.execute(sql(), a.params)
    case 'tx_fetch_all': return tx.fetchAll(sql(), a.params)
    case 'tx_save_position': return tx.savePosition(a.name, a.position, a.event_id, a.event_type)
    case 'tx_update_checkpoint': return tx.updateCheckpoint(a.name, a.event_id, a.event_type)
    case 'tx_save_position_token': return tx.savePositionToken(a.name, a.token, a.event_id, a.event_type)
    default: throw new Error(`unknown op ${step.op}`)
  }
}

// The frontier steps: one current `waypost.Frontier` per case.
function performFrontier(state, step) {
  const a = step.args ?? {}
  switch (step.op) {
    case 'frontier_new':
      state.frontier = new waypost.Frontier(a.start)
      return null
    case 'frontier_begin': return state.frontier.begin(a.position)
    case 'frontier_ack': return state.frontier.ack(a.position)
    case 'frontier_state': {
      const f = state.frontier
      return { committed: f.committed, in_flight: f.inFlight, start: f.start }
    }
    default: throw new Error(`unknown op ${step.op}`)
  }
}

const isTxStep = (op) => ['begin', 'commit', 'rollback'].includes(op) || op.startsWith('tx_')

async function runCase(c, repo, ns = '') {
  const started = Date.now()
  const state = {}
  for (const [i, step] of (c.steps ?? []).entries()) {
    const where = `${c.id} step ${i + 1} (${step.op})`
    let actual
    try {
      const copies = step.concurrently ?? 1
      const results = step.op.startsWith('frontier_')
        ? [performFrontier(state, step)]
        : isTxStep(step.op)
        ? [await performTx(repo, state, step, ns)]
        : await Promise.all(Array.from({ length: copies }, () => perform(repo, step)))
      actual = toJson(results.at(-1) ?? null)
    } catch (err) {
      assert.ok(step.error, `${where}: unexpected ${err.name}: ${err.message}`)
      assert.ok(err instanceof waypost.WaypostError, `${where}: ${err.name} is not a WaypostError: ${err.message}`)
      assert.equal(err.code, step.error, `${where}: ${err.message}`)
      continue
    }
    assert.ok(!step.error, `${where}: expected a ${step.error} error, got ${JSON.stringify(actual)}`)
    if ('expect' in step) {
      const differs = matches(step.expect, actual, started)
      assert.equal(differs, null, `${where}: at ${differs}: expected ${JSON.stringify(step.expect)}, got ${JSON.stringify(actual)}`)
    }
  }
}

function optionsFor(c) {
  const spec = c.repository ?? {}
  const options = {}
  if ('table' in spec) options.table = spec.table
  if ('events_table' in spec) {
    const e = spec.events_table
    if (e === null) options.events = { eventsTable: false }
    else {
      options.events = { eventsTable: e.table ?? 'events' }
      if ('event_id_column' in e) options.events.eventIdColumn = e.event_id_column
      if ('event_type_column' in e) options.events.eventTypeColumn = e.event_type_column
      if ('timestamp_column' in e) options.events.timestampColumn = e.timestamp_column
      if ('position_column' in e) options.events.positionColumn = e.position_column ?? false
    }
  }
  return options
}

async function check(c, open, ns = '') {
  const expectedError = c.repository?.open_error
  let repo
  try {
    repo = await open(optionsFor(c))
  } catch (err) {
    assert.equal(err.code, expectedError, `${c.id}: opening failed: ${err.message}`)
    return
  }
  assert.equal(expectedError, undefined, `${c.id}: opening should fail with ${expectedError}`)
  try {
    await runCase(c, repo, ns)
  } finally {
    await repo.close()
  }
}

const applies = (c, backend) => !c.backends || c.backends.includes(backend)

test('every case file loads', () => {
  assert.ok(cases.length >= 30)
  assert.equal(new Set(cases.map((c) => c.id)).size, cases.length)
})

const dir = mkdtempSync(join(tmpdir(), 'waypost-node-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const pg = postgresDatabase()
const my = mysqlDatabase()

for (const c of cases) {
  if (applies(c, 'memory')) test(`memory ${c.id}: ${c.title}`, () => check(c, async () => new waypost.InMemoryCheckpointRepository()))
  if (applies(c, 'sqlite')) {
    test(`sqlite ${c.id}: ${c.title}`, () => check(c, (o) => waypost.SqliteCheckpointRepository.open(join(dir, `${c.id}.db`), o)))
  }
  if (applies(c, 'postgres')) {
    test(`postgres ${c.id}: ${c.title}`, { skip: pg.skip }, () => {
      const schema = `wp_${randomUUID().replaceAll('-', '').slice(0, 12)}`
      return check(c, (o) => waypost.PostgresCheckpointRepository.connect(pg.url, { ...o, schema }), `"${schema}".`)
    })
  }
  if (applies(c, 'mysql')) {
    test(`mysql ${c.id}: ${c.title}`, { skip: my.skip }, () => {
      return check(c, (o) => waypost.MysqlCheckpointRepository.connect(freshMysqlDatabase(), o))
    })
  }
}
