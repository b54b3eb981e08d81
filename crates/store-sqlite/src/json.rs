//! JSON text columns: encoding on write, decoding on read.

use crate::backend;
use assistd_core::StoreResult;
use serde::{Serialize, de::DeserializeOwned};

/// Encodes a value for a JSON text column.
pub(crate) fn enc<T: Serialize + ?Sized>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(backend)
}

/// Encodes an optional value (`None` stays SQL NULL).
pub(crate) fn enc_opt<T: Serialize>(v: Option<&T>) -> StoreResult<Option<String>> {
    v.map(enc).transpose()
}

/// Decodes a JSON text column.
pub(crate) fn dec<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(backend)
}

/// Decodes a nullable JSON text column.
pub(crate) fn dec_opt<T: DeserializeOwned>(s: Option<&str>) -> StoreResult<Option<T>> {
    s.map(dec).transpose()
}
