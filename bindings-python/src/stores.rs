//! The repository classes' constructors (one per store) and `open(url)`: each converts
//! its keywords into the core's options and opens the core's repository.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use waypost::{
    EventsTable, MemoryRepository, MysqlOptions, MysqlRepository, PostgresOptions, PostgresRepository, SqliteOptions,
    SqliteRepository, Target,
};

use crate::convert::{postgres_dsn, seconds};
use crate::errors::to_py_err;
use crate::options::events_table_options;
use crate::repository::{invalid, Repository, SQLITE_SPIN};
use crate::runtime::handle;

/// Checkpoints in process memory (tests, tutorials); every call completes at once.
#[pyclass(frozen, extends = Repository, module = "waypost", name = "InMemoryCheckpointRepository")]
pub struct InMemoryCheckpointRepository;

#[pymethods]
impl InMemoryCheckpointRepository {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        PyClassInitializer::from(Repository::memory(Arc::new(MemoryRepository::new())))
            .add_subclass(InMemoryCheckpointRepository)
    }
}

/// Checkpoints in an SQLite file (WAL, ``synchronous=FULL``), opened at construction.
#[pyclass(frozen, extends = Repository, module = "waypost", name = "SQLiteCheckpointRepository")]
pub struct SQLiteCheckpointRepository;

#[pymethods]
impl SQLiteCheckpointRepository {
    #[new]
    #[pyo3(signature = (path, *, table = waypost::DEFAULT_CHECKPOINT_TABLE.to_owned(), events_table = Some(EventsTable::default().table),
                        event_id_column = EventsTable::default().event_id_column, event_type_column = EventsTable::default().event_type_column,
                        timestamp_column = EventsTable::default().timestamp_column, position_column = EventsTable::default().position_column,
                        create_schema = SqliteOptions::default().create_schema, busy_timeout = SqliteOptions::default().busy_timeout.as_secs_f64(),
                        synchronous = waypost::Synchronous::default().as_str().to_owned()),
           text_signature = "(path, *, table='projection_checkpoints', events_table='events', \
                             event_id_column='event_id', event_type_column='event_type', \
                             timestamp_column='timestamp', position_column='global_position', \
                             create_schema=True, busy_timeout=5.0, synchronous='FULL')")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        table: String,
        events_table: Option<String>,
        event_id_column: String,
        event_type_column: String,
        timestamp_column: String,
        position_column: Option<String>,
        create_schema: bool,
        busy_timeout: f64,
        synchronous: String,
    ) -> PyResult<PyClassInitializer<Self>> {
        let path: PathBuf = match path.cast::<PyString>() {
            Ok(text) if text.to_str()?.starts_with("sqlite:") => match waypost::parse_url(text.to_str()?) {
                Ok(Target::Sqlite(p)) => PathBuf::from(p),
                Ok(_) => return Err(invalid(format!("{text} is not an sqlite url"))),
                Err(e) => return Err(to_py_err(e)),
            },
            _ => path.extract::<PathBuf>()?,
        };
        let synchronous_full = synchronous.parse::<waypost::Synchronous>().map_err(to_py_err)?.is_full();
        let options = SqliteOptions {
            table,
            events_table: events_table_options(
                None,
                events_table,
                event_id_column,
                event_type_column,
                timestamp_column,
                position_column,
            ),
            create_schema,
            busy_timeout: seconds("busy_timeout", busy_timeout)?,
            synchronous_full,
            // Polled from the Python thread: never block it in place (the core's
            // inline reads, on by default, answer a read by primary key right there).
            block_in_place: false,
            ..SqliteOptions::default()
        };
        let handle = handle()?;
        let path_repr = format!("{:?}", path.display().to_string());
        let repo = py.detach(|| handle.block_on(SqliteRepository::open(path, options))).map_err(to_py_err)?;
        let base = Repository::new(Arc::new(repo))
            .spinning(SQLITE_SPIN)
            .warns_unclosed(format!("waypost.SQLiteCheckpointRepository({})", path_repr));
        Ok(PyClassInitializer::from(base).add_subclass(SQLiteCheckpointRepository))
    }
}

/// Checkpoints in PostgreSQL; connects lazily on the first call. TLS as libpq's
/// ``sslmode`` (``prefer`` by default), ``sslrootcert``, ``sslcert`` and ``sslkey``, in
/// the DSN or as keywords (a keyword wins).
#[pyclass(frozen, extends = Repository, module = "waypost", name = "PostgreSQLCheckpointRepository")]
pub struct PostgreSQLCheckpointRepository;

#[pymethods]
impl PostgreSQLCheckpointRepository {
    #[new]
    #[pyo3(signature = (dsn, *, schema = PostgresOptions::default().schema, table = waypost::DEFAULT_CHECKPOINT_TABLE.to_owned(),
                        events_table = Some(EventsTable::default().table), events_schema = None,
                        event_id_column = EventsTable::default().event_id_column, event_type_column = EventsTable::default().event_type_column,
                        timestamp_column = EventsTable::default().timestamp_column, position_column = EventsTable::default().position_column,
                        create_schema = PostgresOptions::default().create_schema, pool_size = PostgresOptions::default().max_connections,
                        connect_timeout = PostgresOptions::default().connect_timeout.as_secs_f64(),
                        sslmode = None, sslrootcert = None, sslcert = None, sslkey = None),
           text_signature = "(dsn, *, schema='public', table='projection_checkpoints', events_table='events', \
                             events_schema=None, event_id_column='event_id', event_type_column='event_type', \
                             timestamp_column='timestamp', position_column='global_position', \
                             create_schema=True, pool_size=10, connect_timeout=5.0, \
                             sslmode=None, sslrootcert=None, sslcert=None, sslkey=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dsn: &Bound<'_, PyAny>,
        schema: String,
        table: String,
        events_table: Option<String>,
        events_schema: Option<String>,
        event_id_column: String,
        event_type_column: String,
        timestamp_column: String,
        position_column: Option<String>,
        create_schema: bool,
        pool_size: u32,
        connect_timeout: f64,
        sslmode: Option<String>,
        sslrootcert: Option<PathBuf>,
        sslcert: Option<PathBuf>,
        sslkey: Option<PathBuf>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let url = postgres_dsn(dsn)?;
        let options = PostgresOptions {
            schema,
            table,
            events_table: events_table_options(
                events_schema,
                events_table,
                event_id_column,
                event_type_column,
                timestamp_column,
                position_column,
            ),
            create_schema,
            max_connections: pool_size,
            connect_timeout: seconds("connect_timeout", connect_timeout)?,
            ssl_mode: sslmode.map(|m| m.parse()).transpose().map_err(to_py_err)?,
            ssl_root_cert: sslrootcert,
            ssl_cert: sslcert,
            ssl_key: sslkey,
        };
        let handle = handle()?;
        let repo = py.detach(|| handle.block_on(PostgresRepository::connect(&url, options))).map_err(to_py_err)?;
        let what = format!("waypost.PostgreSQLCheckpointRepository({:?})", repo.address());
        let base = Repository::new(Arc::new(repo)).warns_unclosed(what);
        Ok(PyClassInitializer::from(base).add_subclass(PostgreSQLCheckpointRepository))
    }
}

/// Checkpoints in MySQL 8 or MariaDB 10.6+, in the database the URL names; connects lazily
/// on the first call.
#[pyclass(frozen, extends = Repository, module = "waypost", name = "MySQLCheckpointRepository")]
pub struct MySQLCheckpointRepository;

#[pymethods]
impl MySQLCheckpointRepository {
    #[new]
    #[pyo3(signature = (url, *, table = waypost::DEFAULT_CHECKPOINT_TABLE.to_owned(), events_table = Some(EventsTable::default().table),
                        events_schema = None, event_id_column = EventsTable::default().event_id_column,
                        event_type_column = EventsTable::default().event_type_column, timestamp_column = EventsTable::default().timestamp_column,
                        position_column = EventsTable::default().position_column, create_schema = MysqlOptions::default().create_schema,
                        pool_size = MysqlOptions::default().max_connections,
                        connect_timeout = MysqlOptions::default().connect_timeout.as_secs_f64()),
           text_signature = "(url, *, table='projection_checkpoints', events_table='events', events_schema=None, \
                             event_id_column='event_id', event_type_column='event_type', \
                             timestamp_column='timestamp', position_column='global_position', \
                             create_schema=True, pool_size=10, connect_timeout=5.0)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        url: String,
        table: String,
        events_table: Option<String>,
        events_schema: Option<String>,
        event_id_column: String,
        event_type_column: String,
        timestamp_column: String,
        position_column: Option<String>,
        create_schema: bool,
        pool_size: u32,
        connect_timeout: f64,
    ) -> PyResult<PyClassInitializer<Self>> {
        let options = MysqlOptions {
            table,
            events_table: events_table_options(
                events_schema,
                events_table,
                event_id_column,
                event_type_column,
                timestamp_column,
                position_column,
            ),
            create_schema,
            max_connections: pool_size,
            connect_timeout: seconds("connect_timeout", connect_timeout)?,
        };
        let handle = handle()?;
        let repo = py.detach(|| handle.block_on(MysqlRepository::connect(&url, options))).map_err(to_py_err)?;
        let what = format!("waypost.MySQLCheckpointRepository({:?})", repo.address());
        let base = Repository::new(Arc::new(repo)).warns_unclosed(what);
        Ok(PyClassInitializer::from(base).add_subclass(MySQLCheckpointRepository))
    }
}

/// Opens a repository from a URL: ``memory:``, ``sqlite:PATH``, ``postgresql://…`` or
/// ``mysql://…``;
/// keyword options go to the class's constructor.
#[pyfunction]
#[pyo3(signature = (url, **options))]
pub fn open<'py>(py: Python<'py>, url: &str, options: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
    match waypost::parse_url(url).map_err(to_py_err)? {
        Target::Memory => {
            if options.is_some_and(|o| !o.is_empty()) {
                return Err(PyTypeError::new_err("InMemoryCheckpointRepository takes no options"));
            }
            py.get_type::<InMemoryCheckpointRepository>().call0()
        }
        Target::Sqlite(path) => py.get_type::<SQLiteCheckpointRepository>().call((path,), options),
        Target::Postgres(dsn) => py.get_type::<PostgreSQLCheckpointRepository>().call((dsn,), options),
        Target::Mysql(url) => py.get_type::<MySQLCheckpointRepository>().call((url,), options),
        // The URL may carry a password: never echo it.
        _ => Err(invalid("unsupported repository url scheme".to_owned())),
    }
}
