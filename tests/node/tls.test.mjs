// TLS to PostgreSQL from Node, against a server of this file's own with ssl=on and a CA
// made for it (tests/support/pg-throwaway.sh create-tls): the sslMode, sslRootCert,
// sslCert and sslKey options and the URL's parameters, read back from pg_stat_ssl on the
// repository's own connection. A password never appears in an error or toString().
// Without initdb/pg_ctl or openssl these tests are skipped, and under CI=true they fail.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import waypost from '../../bindings-node/index.js'
import { pgThrowaway } from './support.mjs'

const PASSWORD = 'pw-never-shown-4711'
const { skip, cluster } = pgThrowaway('create-tls', 'PostgreSQL TLS tests', { before, after })
const tls = (file) => join(cluster().dir, 'tls', file)
const url = ({ host = '127.0.0.1', user = 'postgres', query = '' } = {}) =>
  `postgres://${user}:${PASSWORD}@${host}:${cluster().port}/postgres${query}`

/** Whether the repository's connection is encrypted, and its user, after a write. */
async function session(target, options = {}) {
  const repo = await waypost.PostgresCheckpointRepository.connect(target, { eventsTable: false, connectTimeoutMs: 3000, ...options })
  try {
    await repo.savePosition('Tls', 7, randomUUID(), 'Tick')
    assert.equal(await repo.getPosition('Tls'), 7)
    const [row] = await repo.transaction((tx) =>
      tx.fetchAll('SELECT ssl, current_user::text AS who FROM pg_stat_ssl WHERE pid = pg_backend_pid()'))
    return [row.ssl, row.who]
  } finally {
    await repo.close()
  }
}

async function refused(target, options = {}) {
  const repo = await waypost.PostgresCheckpointRepository.connect(target, { eventsTable: false, connectTimeoutMs: 3000, ...options })
  try {
    assert.ok(!String(repo).includes(PASSWORD), String(repo))
    const err = await repo.getPosition('Tls').then(() => assert.fail('must be refused'), (e) => e)
    assert.ok(err instanceof waypost.WaypostError, String(err))
    assert.ok(!err.message.includes(PASSWORD) && !String(err.stack).includes(PASSWORD), err.message)
    return err
  } finally {
    await repo.close()
  }
}

test('modes encrypt as libpq says; an option wins over the URL', { skip }, async () => {
  assert.equal((await session(url()))[0], true, 'prefer, the default, encrypts when offered')
  assert.equal((await session(url(), { sslMode: 'require' }))[0], true)
  assert.equal((await session(url(), { sslMode: 'disable' }))[0], false)
  assert.equal((await session(url({ query: '?sslmode=require' })))[0], true)
  assert.equal((await session(url({ query: '?sslmode=require' }), { sslMode: 'disable' }))[0], false)
})

test('verification accepts the right CA and host only, and names the cause', { skip }, async () => {
  assert.equal((await session(url({ host: 'localhost' }), { sslMode: 'verify-full', sslRootCert: tls('ca.pem') }))[0], true)
  assert.equal((await session(url({ host: 'localhost', query: `?sslmode=verify-full&sslrootcert=${tls('ca.pem')}` })))[0], true)
  assert.equal((await session(url(), { sslMode: 'verify-ca', sslRootCert: tls('ca.pem') }))[0], true)

  const wrongHost = await refused(url(), { sslMode: 'verify-full', sslRootCert: tls('ca.pem') })
  assert.ok(wrongHost instanceof waypost.UnavailableError && wrongHost.code === 'Unavailable', String(wrongHost))
  assert.match(wrongHost.message, /certificate not valid for name/)
  const wrongCa = await refused(url({ host: 'localhost' }), { sslMode: 'verify-full', sslRootCert: tls('other-ca.pem') })
  assert.ok(wrongCa instanceof waypost.UnavailableError, String(wrongCa))
  assert.match(wrongCa.message, /UnknownIssuer/)
})

test('client certificates', { skip }, async () => {
  assert.match((await refused(url({ user: 'waypost_cert' }), { sslMode: 'require' })).message, /certificate/)
  const options = { sslMode: 'require', sslCert: tls('client.pem'), sslKey: tls('client.key') }
  assert.deepEqual(await session(url({ user: 'waypost_cert' }), options), [true, 'waypost_cert'])
})

test('bad TLS settings are refused at connect', async () => {
  const target = `postgres://postgres:${PASSWORD}@127.0.0.1:1/postgres`
  const cases = [
    [{ sslMode: 'on' }, /sslmode must be one of/],
    [{ sslRootCert: '/nonexistent/ca.pem' }, /sslrootcert/],
    [{ sslCert: '/nonexistent/client.pem' }, /go together/],
  ]
  for (const [options, message] of cases) {
    await assert.rejects(waypost.PostgresCheckpointRepository.connect(target, options), (err) =>
      err instanceof waypost.InvalidArgumentError && message.test(err.message) && !err.message.includes(PASSWORD))
  }
  await assert.rejects(waypost.PostgresCheckpointRepository.connect(`${target}?sslmode=allow`), waypost.InvalidArgumentError)
  await assert.rejects(waypost.PostgresCheckpointRepository.connect(target, { sslMode: 1 }), TypeError)
})
