// waypost beside raw driver loops running the same statements: better-sqlite3 (WAL,
// synchronous=FULL, prepared) and pg (one client, named prepared statements).
// Run with `make bench-node` (release build; PostgreSQL found or started).
import { createRequire } from 'node:module'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import waypost from '../index.js'

const require = createRequire(import.meta.url)
const Database = require('better-sqlite3')
const pg = require('pg')
// WAYPOST_BENCH_SMOKE=1 (as `make test` runs it): every figure once, briefly: a check that
// the bench runs, whose figures mean nothing.
const SMOKE = !['', '0', undefined].includes(process.env.WAYPOST_BENCH_SMOKE)
const SECONDS = SMOKE ? 0.02 : Number(process.env.BENCH_SECONDS ?? 1.5)

async function rate(op) {
  for (let i = 0; i < 20; i++) await op(i)
  let n = 0
  const start = performance.now()
  while (performance.now() - start < SECONDS * 1000) await op(n++)
  return n / ((performance.now() - start) / 1000)
}

// Calls per second from `tasks` callers at once, each saving its own name.
async function concurrentRate(op, tasks = 8) {
  for (let t = 0; t < tasks; t++) await op(t, 0)
  const counts = new Array(tasks).fill(0)
  const start = performance.now()
  const end = start + SECONDS * 1000
  await Promise.all(counts.map(async (_, t) => {
    while (performance.now() < end) await op(t, counts[t]++)
  }))
  return counts.reduce((a, b) => a + b) / ((performance.now() - start) / 1000)
}

const row = (what, ours, theirs) =>
  console.log(`${what.padEnd(40)} ${Math.round(ours).toLocaleString('en').padStart(12)} ${theirs ? Math.round(theirs).toLocaleString('en').padStart(12) : ''.padStart(12)} ${theirs ? (ours / theirs).toFixed(2).padStart(8) + 'x' : ''}`)
const header = (title, raw) => console.log(`\n== ${title} ==\n${'operation'.padEnd(40)} ${'waypost/s'.padStart(12)} ${raw.padStart(12)} ${'ratio'.padStart(9)}`)

const UPSERT_POSITION = (p) => `INSERT INTO projection_checkpoints AS c (projection_name, last_event_id, last_event_type, last_processed_at, events_processed, created_at, updated_at, global_position) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, 1, ${p(4)}, ${p(4)}, ${p(5)}) ON CONFLICT (projection_name) DO UPDATE SET last_event_id = excluded.last_event_id, last_event_type = excluded.last_event_type, last_processed_at = excluded.last_processed_at, events_processed = c.events_processed + 1, updated_at = excluded.updated_at, global_position = excluded.global_position`
const UPSERT_EVENT = (p) => `INSERT INTO projection_checkpoints AS c (projection_name, last_event_id, last_event_type, last_processed_at, events_processed, created_at, updated_at) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, 1, ${p(4)}, ${p(4)}) ON CONFLICT (projection_name) DO UPDATE SET last_event_id = excluded.last_event_id, last_event_type = excluded.last_event_type, last_processed_at = excluded.last_processed_at, events_processed = c.events_processed + 1, updated_at = excluded.updated_at`
const SELECT = (p) => `SELECT global_position FROM projection_checkpoints WHERE projection_name = ${p(1)}`

async function protocol(repo, raw, { reads = true, how = '' } = {}) {
  const id = randomUUID()
  row(`savePosition${how}`, await rate((n) => repo.savePosition('bench', n, id, 'OrderPlaced')), raw && await rate((n) => raw.save(n, id)))
  row(`updateCheckpoint${how}`, await rate(() => repo.updateCheckpoint('bench', id, 'OrderPlaced')), raw && await rate(() => raw.update(id)))
  if (reads) row('getPosition', await rate(() => repo.getPosition('bench')), raw && await rate(() => raw.get()))
  // Group commit: 8 callers' writes share commits.
  const eight = (t, n) => repo.savePosition(`writer-${t}`, n, id, 'OrderPlaced')
  row(`savePosition, 8 callers${how}`, await concurrentRate(eight), raw && await concurrentRate(raw.saveAs))
}

header('memory', '')
await protocol(new waypost.InMemoryCheckpointRepository(), null)

const dir = mkdtempSync(join(tmpdir(), 'waypost-bench-'))
const file = join(dir, 'bench.db')
const sqlite = await waypost.SqliteCheckpointRepository.open(file)
await sqlite.savePosition('raw', 0, randomUUID(), 'T')
const db = new Database(file)
db.pragma('journal_mode = WAL')
db.pragma('synchronous = FULL')
db.pragma('busy_timeout = 5000')
const q = (i) => `@p${i}`
const s = { save: db.prepare(UPSERT_POSITION(q)), update: db.prepare(UPSERT_EVENT(q)), get: db.prepare(SELECT(q)) }
header('SQLite (WAL, synchronous=FULL)', 'better-sqlite3/s')
const rawSqlite = {
  save: (n, id) => s.save.run({ p1: 'raw', p2: id, p3: 'OrderPlaced', p4: new Date().toISOString(), p5: n }),
  update: (id) => s.update.run({ p1: 'raw', p2: id, p3: 'OrderPlaced', p4: new Date().toISOString() }),
  get: () => s.get.get({ p1: 'raw' }),
  saveAs: (t, n) => s.save.run({ p1: `raw-${t}`, p2: randomUUID(), p3: 'OrderPlaced', p4: new Date().toISOString(), p5: n }),
}
await protocol(sqlite, rawSqlite)
await sqlite.close()
// Writes on the JS thread when the connection is free, as better-sqlite3 does them.
const inline = await waypost.SqliteCheckpointRepository.open(file, { inlineWrites: true })
await protocol(inline, rawSqlite, { reads: false, how: ' (inlineWrites)' })
await inline.close()
db.close()
rmSync(dir, { recursive: true, force: true })

const url = process.env.WAYPOST_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const client = new pg.Client({ connectionString: url })
try {
  await client.connect()
} catch (err) {
  console.log(`\nPostgreSQL not measured: ${err.message}`)
  process.exit(0)
}
const schema = `wp_bench_${randomUUID().replaceAll('-', '').slice(0, 8)}`
const repo = await waypost.PostgresCheckpointRepository.connect(url, { schema })
await repo.savePosition('raw', 0, randomUUID(), 'T')
await client.query(`SET search_path TO ${schema}`)
const pool = new pg.Pool({ connectionString: url, max: 10, options: `-c search_path=${schema}` })
const d = (i) => `$${i}`
header('PostgreSQL', 'pg/s')
await protocol(repo, {
  save: (n, id) => client.query({ name: 'save', text: UPSERT_POSITION(d), values: ['raw', id, 'OrderPlaced', new Date(), n] }),
  update: (id) => client.query({ name: 'update', text: UPSERT_EVENT(d), values: ['raw', id, 'OrderPlaced', new Date()] }),
  get: () => client.query({ name: 'get', text: SELECT(d), values: ['raw'] }),
  // 8 callers on a pool of as many connections as waypost's (10).
  saveAs: (t, n) => pool.query({ name: 'save', text: UPSERT_POSITION(d), values: [`raw-${t}`, randomUUID(), 'OrderPlaced', new Date(), n] }),
})
await pool.end()
await repo.close()
await client.query(`DROP SCHEMA ${schema} CASCADE`)
await client.end()
