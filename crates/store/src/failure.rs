//! Which driver errors mean that the database is out of reach for now
//! ([`StoreError::Unavailable`], a 503 that clients retry) rather than that the call itself
//! failed ([`StoreError::Backend`], a 500). The driver's own kinds are told apart here, once;
//! each dialect adds the codes by which its database says the same.
//!
//! A statement cut by `database_statement_timeout_secs` is not among them: it stays a 500, since
//! the SDKs' retries would only run the same slow statement again, twice.

use assistd_core::StoreError;

/// The error `boxed` as the store reports it: unavailable when the driver lost or could not
/// open a connection, timed out waiting for one, or was closed, or when the database's own
/// code says so (`unavailable_code`); a backend failure otherwise.
pub(crate) fn classify(
    boxed: Box<dyn std::error::Error + Send + Sync>,
    unavailable_code: fn(&str) -> bool,
) -> StoreError {
    let unavailable = match boxed.downcast_ref::<sqlx::Error>() {
        Some(
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed,
        ) => true,
        Some(sqlx::Error::Database(db)) => db.code().is_some_and(|c| unavailable_code(&c)),
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(boxed)
    } else {
        StoreError::Backend(boxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &str) -> bool {
        false
    }

    #[test]
    fn lost_connections_and_pool_timeouts_are_unavailable_and_the_rest_is_not() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for e in [
            sqlx::Error::Io(refused),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
        ] {
            assert!(matches!(
                classify(Box::new(e), never),
                StoreError::Unavailable(_)
            ));
        }
        for e in [
            sqlx::Error::RowNotFound,
            sqlx::Error::Protocol("unexpected message".to_owned()),
        ] {
            assert!(matches!(
                classify(Box::new(e), never),
                StoreError::Backend(_)
            ));
        }
        // Errors that are not the driver's (a decoding failure of the store's own) are not
        // about the database's reach.
        let other: Box<dyn std::error::Error + Send + Sync> = "a bad column".into();
        assert!(matches!(classify(other, never), StoreError::Backend(_)));
    }
}
