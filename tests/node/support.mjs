// PostgreSQL for the Node suites: WAYPOST_TEST_POSTGRES_URL, else 127.0.0.1:5432
// (`make test` starts a throwaway cluster when neither exists). A database of this run's
// own is created and dropped at exit; each case uses a schema of its own inside it.
// Without a server the PostgreSQL tests are skipped, and under CI=true that is a failure.
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const LOCAL = 'postgres://postgres@127.0.0.1:5432/postgres'

function psql(url, sql) {
  return execFileSync('psql', ['-X', '-w', '-v', 'ON_ERROR_STOP=1', url, '-Atqc', sql], {
    env: { ...process.env, PGCONNECT_TIMEOUT: '5' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30000,
  })
}

let cached
export function postgresDatabase() {
  if (cached) return cached
  const url = process.env.WAYPOST_TEST_POSTGRES_URL || LOCAL
  try {
    psql(url, 'select 1')
  } catch (err) {
    if (process.env.CI === 'true') throw new Error(`CI=true but no PostgreSQL answers: ${err.message}`)
    cached = { skip: 'no PostgreSQL server; set WAYPOST_TEST_POSTGRES_URL' }
    return cached
  }
  const database = `waypost_node_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  psql(url, `CREATE DATABASE ${database}`)
  process.on('exit', () => {
    try { psql(url, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`) } catch { /* best effort */ }
  })
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  cached = { skip: false, url: parsed.toString() }
  return cached
}

/** camelCase to the cases' snake_case. */
export const snake = (s) => s.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())

/** null when `actual` matches `expected` (as the Rust runner's matcher does), else where it differs. */
export function matches(expected, actual, started, path = 'result') {
  if (expected === '$any') return actual != null ? null : path
  if (expected === '$recent') {
    if (typeof actual !== 'string') return path
    const t = Date.parse(actual)
    return t >= started - 1000 && t <= Date.now() + 1000 ? null : path
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${path}.length`
    for (let i = 0; i < expected.length; i++) {
      const where = matches(expected[i], actual[i], started, `${path}[${i}]`)
      if (where) return where
    }
    return null
  }
  if (expected && typeof expected === 'object') {
    if (!actual || typeof actual !== 'object') return path
    for (const [key, value] of Object.entries(expected)) {
      const where = matches(value, actual[key] ?? null, started, `${path}.${key}`)
      if (where) return where
    }
    return null
  }
  return Object.is(expected, actual) || expected === actual ? null : path
}

/** Every case in the `*.json` files of `dir`, ordered by file name. */
export function loadCases(dir) {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((f) => {
      const data = JSON.parse(readFileSync(join(dir, f), 'utf8'))
      return Array.isArray(data) ? data : [data]
    })
}

/** Openers of a fresh repository per backend (PostgreSQL in a schema of its own). */
export function storeOpeners(waypost) {
  const pg = postgresDatabase()
  return {
    memory: { skip: false, open: async () => new waypost.InMemoryCheckpointRepository() },
    sqlite: {
      skip: false,
      open: async () => waypost.SqliteCheckpointRepository.open(join(mkdtempSync(join(tmpdir(), 'wp-store-')), 's.db')),
    },
    postgres: {
      skip: pg.skip,
      open: async () => waypost.PostgresCheckpointRepository.connect(pg.url, {
        schema: `wp_${randomUUID().replaceAll('-', '').slice(0, 12)}`,
      }),
    },
  }
}
