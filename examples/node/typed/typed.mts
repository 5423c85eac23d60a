// The typings as a TypeScript user meets them, compiled by `tsc --strict` (make test):
// every public class and call of the protocol, the records with `null` for missing
// values, 64-bit positions as `number | bigint`, the error classes, transactions, the
// checkpointer, the manager and `Symbol.asyncDispose`. Type-checked only; the same calls
// run in the JS examples and suites.
import waypost, {
  type CheckpointData,
  type CheckpointRepository,
  type HealthReport,
  type LagMetrics,
  type Progress,
  type Transaction,
} from '../../../bindings-node/index.js'

async function resume(repo: CheckpointRepository, name: string): Promise<bigint> {
  const position: number | bigint | null = await repo.getPosition(name)
  await repo.savePosition(name, 2n ** 60n, crypto.randomUUID(), 'OrderPlaced')
  await repo.savePosition(name, 42, crypto.randomUUID(), 'OrderPlaced')
  return BigInt(position ?? 0)
}

async function inspect(repo: CheckpointRepository): Promise<string[]> {
  const all: CheckpointData[] = await repo.getAllCheckpoints()
  const lag: LagMetrics | null = await repo.getLagMetrics('Orders', ['OrderPlaced'])
  const progress: Progress = await repo.getProgress('Orders', { stallAfterMs: 30_000 })
  const health: HealthReport = await repo.getHealth(null, { degradedEventsBehind: 10 })
  const state: 'NotStarted' | 'CatchingUp' | 'CaughtUp' | 'Idle' | 'Stalled' = progress.state
  const id: string | null = all[0]?.lastEventId ?? null
  const at: Date | null = all[0]?.lastProcessedAt ?? null
  const lagAt: Date | null = lag?.lastProcessedAt ?? progress.lastProcessedAt
  const micros: number = all[0]?.lastProcessedAt?.microseconds ?? 0
  const behind: number | bigint | null = lag?.eventsBehind ?? null
  return [state, health.status, String(id), String(at), String(lagAt), String(micros), String(behind)]
}

async function exactlyOnce(repo: CheckpointRepository, orderId: string, total: number): Promise<number> {
  return repo.transaction(async (tx: Transaction) => {
    const changed: number = await tx.execute('INSERT INTO totals (id, total) VALUES ($1, $2)', [orderId, total])
    const rows = await tx.fetchAll('SELECT total FROM totals WHERE id = $1', [orderId])
    await tx.savePosition('Totals', 7n, crypto.randomUUID(), 'OrderPlaced')
    return changed + rows.length
  })
}

async function main(): Promise<void> {
  const memory = new waypost.InMemoryCheckpointRepository({ unsafeIntegers: 'throw' })
  const sqlite = await waypost.SqliteCheckpointRepository.open('checkpoints.db', { synchronous: 'FULL', unsafeIntegers: 'bigint' })
  const postgres = await waypost.PostgresCheckpointRepository.connect('postgres://app@db.example.com/app', {
    sslMode: 'verify-full',
    sslRootCert: '/etc/ssl/db-ca.pem',
    poolSize: 4,
  })
  const mysql = await waypost.MysqlCheckpointRepository.connect('mysql://app@db.example.com/app')
  const any: CheckpointRepository = await waypost.openRepository('memory:')
  for (const repo of [memory, sqlite, postgres, mysql, any]) {
    await resume(repo, 'Orders')
    await inspect(repo)
    await exactlyOnce(repo, 'o-1', 12)
    const tx = await repo.begin()
    await tx[Symbol.asyncDispose]()
    await repo[Symbol.asyncDispose]()
  }

  const checkpoints = new waypost.Checkpointer(memory, 'Orders', { every: 100, intervalMs: 1000 })
  await checkpoints.record(1n, crypto.randomUUID(), 'OrderPlaced')
  const saves: number = await checkpoints.saves()
  await checkpoints[Symbol.asyncDispose]()

  const manager = await waypost.CheckpointManager.start(memory, { workerId: 'w1', leaseMs: 60_000 })
  manager.on('leaseLost', (url: string, error: InstanceType<typeof waypost.LeaseLostError>) => console.log(url, error.code))
  if (await manager.claimFile('s3://bucket/a.csv', 'csv', new Date())) {
    const signal: AbortSignal | null = manager.signal('s3://bucket/a.csv')
    await manager.completeFile('s3://bucket/a.csv', { totalRows: 3, persistedRows: 3 })
    console.log(signal?.aborted, saves)
  }
  await manager[Symbol.asyncDispose]()

  // Parallel handlers: checkpoint only what every earlier begun event has finished.
  const frontier = new waypost.Frontier(40) // the stored checkpoint
  frontier.begin(41)
  frontier.begin(42)
  frontier.ack(42)
  const safe: number | bigint | null = frontier.committed // still the start: 41 is in flight
  const inFlight: number = frontier.inFlight
  console.log(safe, inFlight)

  try {
    await memory.savePosition('Orders', -1, crypto.randomUUID(), 'OrderPlaced')
  } catch (err) {
    if (err instanceof waypost.InvalidArgumentError) console.log(err.code, err.message)
    else if (err instanceof waypost.WaypostError) console.log(err.code)
  }
}

void main
