// The servers for the Node suites, found once by tests/support/with-postgres.sh and
// with-mysql.sh: their WAYPOST_TEST_POSTGRES_URL / WAYPOST_TEST_MYSQL_URL under `make test`
// (which starts a throwaway server when there is none), else what `--url` finds.
// PostgreSQL: a database of this run's own, dropped at exit; each case uses a schema of
// its own inside it. MySQL/MariaDB: a database of this run's own, and
// freshMysqlDatabase() for a database per case (a MySQL schema is a database). Without a
// server those tests are skipped, and under CI=true that is a failure.
import { execFileSync, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SUPPORT = fileURLToPath(new URL('../support/', import.meta.url))

/** `{ url }` of the variable the script set, else of `script --url`; `{ skip }` without one. */
function server(script, variable) {
  if (process.env[variable]) return { url: process.env[variable] }
  try {
    return { url: execFileSync(join(SUPPORT, script), ['--url'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim() }
  } catch (err) {
    const problem = String(err.stderr ?? err.message).trim().slice(0, 300)
    if (process.env.CI === 'true') throw new Error(`CI=true but ${script} found no server: ${problem}`)
    return { skip: `tests that need ${variable} skipped: ${problem}` }
  }
}

/**
 * A PostgreSQL cluster of the caller's own, made by `tests/support/pg-throwaway.sh ACTION`
 * (`create` or `create-tls`) at `before`, destroyed at `after`: `{ skip }` when none can
 * be made here (under CI=true that throws instead), and `cluster()` → `{ dir, port }`.
 */
export function pgThrowaway(action, what, { before, after }) {
  const script = join(SUPPORT, 'pg-throwaway.sh')
  const check = spawnSync('bash', [script, 'check'], { encoding: 'utf8' })
  let made
  if (check.status !== 0) {
    const why = check.stdout.trim()
    if (process.env.CI === 'true') throw new Error(`CI=true but no throwaway PostgreSQL cluster can be made: ${why}`)
    return { skip: `${what} skipped: ${why}`, cluster: () => made }
  }
  before(() => {
    const [dir, port] = execFileSync('bash', [script, action], { encoding: 'utf8' }).trim().split(' ')
    made = { dir, port: Number(port) }
  })
  after(() => {
    if (made) spawnSync('bash', [script, 'destroy', made.dir])
  })
  return { skip: false, cluster: () => made }
}

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
  const { url, skip } = server('with-postgres.sh', 'WAYPOST_TEST_POSTGRES_URL')
  if (skip) return (cached = { skip })
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

const hex12 = () => randomUUID().replaceAll('-', '').slice(0, 12)

let mysqlClient
/** The mariadb client, else mysql; null when neither is installed. */
function findMysqlClient() {
  if (mysqlClient !== undefined) return mysqlClient
  mysqlClient = null
  for (const name of ['mariadb', 'mysql']) {
    try {
      execFileSync(name, ['--version'], { stdio: 'ignore', timeout: 10000 })
      mysqlClient = name
      break
    } catch { /* not installed */ }
  }
  return mysqlClient
}

/**
 * Runs `sql` over TCP on the server of `url`, in `database` if given (not the URL's own);
 * the password travels in MYSQL_PWD and option files are not read.
 */
function mysql(url, sql, database) {
  const parsed = new URL(url)
  const env = { ...process.env }
  delete env.MYSQL_PWD
  if (parsed.password) env.MYSQL_PWD = decodeURIComponent(parsed.password)
  const args = [
    '--no-defaults', '--protocol=TCP', '--connect-timeout=5',
    '-h', parsed.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost',
    '-P', parsed.port || '3306',
    '-u', decodeURIComponent(parsed.username) || 'root',
    ...(database ? ['-D', database] : []),
    '-N', '-B', '-e', sql,
  ]
  return execFileSync(findMysqlClient() ?? 'mariadb', args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 })
}

function withDatabase(url, database) {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

let mysqlCached
/** A MySQL/MariaDB database of this run's own, dropped at exit: `{ skip: false, url }`, or `{ skip: reason }`. */
export function mysqlDatabase() {
  if (mysqlCached) return mysqlCached
  const { url, skip } = server('with-mysql.sh', 'WAYPOST_TEST_MYSQL_URL')
  if (skip) return (mysqlCached = { skip })
  const database = `waypost_node_${hex12()}`
  mysql(url, `CREATE DATABASE ${database}`)
  process.on('exit', () => {
    try { mysql(url, `DROP DATABASE IF EXISTS ${database}`) } catch { /* best effort */ }
  })
  mysqlCached = { skip: false, url: withDatabase(url, database) }
  return mysqlCached
}

const freshMysql = []
/**
 * A URL to a new MySQL/MariaDB database of its own (`wp_<12 hex>`) on the run's server,
 * dropped at process exit. Check `mysqlDatabase().skip` first: without a server this throws.
 */
export function freshMysqlDatabase() {
  const run = mysqlDatabase()
  if (run.skip) throw new Error(`no MySQL/MariaDB database: ${run.skip}`)
  const database = `wp_${hex12()}`
  mysql(run.url, `CREATE DATABASE ${database}`)
  if (freshMysql.length === 0) {
    process.on('exit', () => {
      for (const name of freshMysql) {
        try { mysql(run.url, `DROP DATABASE IF EXISTS ${name}`) } catch { /* best effort */ }
      }
    })
  }
  freshMysql.push(database)
  return withDatabase(run.url, database)
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
  const my = mysqlDatabase()
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
    mysql: {
      skip: my.skip,
      open: async () => waypost.MysqlCheckpointRepository.connect(freshMysqlDatabase()),
    },
  }
}
