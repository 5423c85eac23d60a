// PostgreSQL for the Node suites: WAYPOST_TEST_POSTGRES_URL, else 127.0.0.1:5432
// (`make test` starts a throwaway cluster when neither exists). A database of this run's
// own is created and dropped at exit; each case uses a schema of its own inside it.
// Without a server the PostgreSQL tests are skipped, and under CI=true that is a failure.
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'

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
