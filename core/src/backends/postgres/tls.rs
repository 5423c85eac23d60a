//! TLS to the server: the options' `ssl_*` over the URL's `sslmode`, `sslrootcert`,
//! `sslcert` and `sslkey` (rustls, through sqlx).

use std::path::Path;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::error::{Error, Result};
use crate::options::{PostgresOptions, SslMode};

/// `connect` with the options' TLS settings applied; an option given wins over the URL.
///
/// # Errors
/// `InvalidArgument` for `sslmode=allow` (sqlx would connect in plain text), a
/// certificate or key file that cannot be read, or a client certificate without its key.
pub(super) fn apply(mut connect: PgConnectOptions, options: &PostgresOptions) -> Result<PgConnectOptions> {
    if let Some(mode) = options.ssl_mode {
        connect = connect.ssl_mode(match mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require => PgSslMode::Require,
            SslMode::VerifyCa => PgSslMode::VerifyCa,
            SslMode::VerifyFull => PgSslMode::VerifyFull,
        });
    }
    if matches!(connect.get_ssl_mode(), PgSslMode::Allow) {
        return Err(Error::invalid("sslmode=allow is not supported: use prefer, require, verify-ca or verify-full"));
    }
    if options.ssl_cert.is_some() != options.ssl_key.is_some() {
        return Err(Error::invalid("sslcert and sslkey go together: give both or neither"));
    }
    if let Some(path) = &options.ssl_root_cert {
        connect = connect.ssl_root_cert(readable("sslrootcert", path)?);
    }
    if let (Some(cert), Some(key)) = (&options.ssl_cert, &options.ssl_key) {
        connect = connect.ssl_client_cert(readable("sslcert", cert)?).ssl_client_key(readable("sslkey", key)?);
    }
    Ok(connect)
}

/// `path` if it is a file that can be opened, read at each connection by sqlx.
fn readable<'a>(option: &str, path: &'a Path) -> Result<&'a Path> {
    match std::fs::File::open(path) {
        Ok(_) if path.is_file() => Ok(path),
        Ok(_) => Err(Error::invalid(format!("{option}: {} is not a file", path.display()))),
        Err(e) => Err(Error::invalid(format!("{option}: cannot read {}: {e}", path.display()))),
    }
}
