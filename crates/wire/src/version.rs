//! The two versions of the Assistants API this server speaks, and how one stored object is shown
//! and read in each.
//!
//! Every object has one struct in this crate, the superset both versions store. What differs
//! between v1 and v2 is written at the field or enum where it occurs, and follows the *mode* of
//! the current (de)serialization:
//! - [`Mode::Store`] (the default): the canonical form kept in the database and read back from
//!   it, lossless, accepting what either version wrote;
//! - [`Mode::Api`]: a response shown to, or a request read from, a client of one version.
//!
//! serde has no way to pass context into `Serialize`, so the mode is a thread-local set around one
//! synchronous `serde_json` call by [`with_version`]. (One struct per object and version would
//! triple the types and the conversions between them for a handful of differing fields.) Nothing
//! awaits inside that call, so the mode cannot leak into another task.

use serde::{Deserialize, Deserializer};
use std::cell::Cell;

/// Which Assistants API a request speaks, chosen by its `OpenAI-Beta: assistants=…` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ApiVersion {
    /// `assistants=v1`, and requests that name no version.
    #[default]
    V1,
    /// `assistants=v2`.
    V2,
}

impl ApiVersion {
    /// The header token: `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }
}

/// What the current (de)serialization is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The database's canonical form.
    #[default]
    Store,
    /// A client of this version.
    Api(ApiVersion),
}

thread_local! {
    static MODE: Cell<Mode> = const { Cell::new(Mode::Store) };
}

/// The current mode.
pub fn mode() -> Mode {
    MODE.with(Cell::get)
}

/// Runs `f` (one synchronous serialization or deserialization) in the mode of `version`.
pub fn with_version<R>(version: ApiVersion, f: impl FnOnce() -> R) -> R {
    struct Restore(Mode);
    impl Drop for Restore {
        fn drop(&mut self) {
            MODE.with(|m| m.set(self.0));
        }
    }
    let _restore = Restore(MODE.with(|m| m.replace(Mode::Api(version))));
    f()
}

/// Serializes `value` as a client of `version` sees it.
pub fn to_vec<T: serde::Serialize + ?Sized>(
    version: ApiVersion,
    value: &T,
) -> serde_json::Result<Vec<u8>> {
    with_version(version, || serde_json::to_vec(value))
}

/// Whether the current serialization is for a v1 client.
pub fn is_v1() -> bool {
    mode() == Mode::Api(ApiVersion::V1)
}

/// Whether the current serialization is for a v2 client.
pub fn is_v2() -> bool {
    mode() == Mode::Api(ApiVersion::V2)
}

/// `skip_serializing_if` for a field only v2 shows (kept in the store).
pub fn hidden_from_v1<T>(_: &T) -> bool {
    is_v1()
}

/// `skip_serializing_if` for a field only v1 shows (kept in the store).
pub fn hidden_from_v2<T>(_: &T) -> bool {
    is_v2()
}

/// `skip_serializing_if` for a field only the store keeps (no client version shows it).
pub fn hidden_from_api<T>(_: &T) -> bool {
    mode() != Mode::Store
}

/// The error a request field of the other version gets. `extract.rs` turns it into OpenAI's
/// "Unrecognized request argument supplied" with the field's path, and a hint.
pub const WRONG_VERSION: &str = "wrong api version";

/// `deserialize_with` for a request field v1 has and v2 does not (`file_ids`): refused under v2.
pub fn v1_field<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    if is_v2() {
        return Err(serde::de::Error::custom(WRONG_VERSION));
    }
    T::deserialize(d)
}

/// `deserialize_with` for a request field v2 has and v1 does not (`tool_resources`): refused
/// under v1.
pub fn v2_field<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    if is_v1() {
        return Err(serde::de::Error::custom(WRONG_VERSION));
    }
    T::deserialize(d)
}

/// `deserialize_with` for a nullable v2 field of a modify request: absent is `None`, `null` is
/// `Some(None)`; refused under v1.
pub fn v2_nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    v2_field::<D, Option<T>>(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize, Deserialize)]
    struct Both {
        #[serde(
            default,
            deserialize_with = "v1_field",
            skip_serializing_if = "hidden_from_v2"
        )]
        old: Option<u8>,
        #[serde(
            default,
            deserialize_with = "v2_field",
            skip_serializing_if = "hidden_from_v1"
        )]
        new: Option<u8>,
    }

    #[test]
    fn fields_follow_the_mode() {
        let both = Both {
            old: Some(1),
            new: Some(2),
        };
        let store = serde_json::to_string(&both).unwrap();
        assert_eq!(store, r#"{"old":1,"new":2}"#);
        assert_eq!(to_vec(ApiVersion::V1, &both).unwrap(), br#"{"old":1}"#);
        assert_eq!(to_vec(ApiVersion::V2, &both).unwrap(), br#"{"new":2}"#);
        // The mode ends with the call.
        assert_eq!(mode(), Mode::Store);

        let read = |v, s: &str| with_version(v, || serde_json::from_str::<Both>(s).is_ok());
        assert!(read(ApiVersion::V1, r#"{"old":1}"#));
        assert!(!read(ApiVersion::V1, r#"{"new":1}"#));
        assert!(read(ApiVersion::V2, r#"{"new":1}"#));
        assert!(!read(ApiVersion::V2, r#"{"old":1}"#));
        assert!(serde_json::from_str::<Both>(r#"{"old":1,"new":2}"#).is_ok());
    }

    #[test]
    fn the_mode_is_restored_after_a_panic() {
        let caught = std::panic::catch_unwind(|| with_version(ApiVersion::V2, || panic!("x")));
        assert!(caught.is_err());
        assert_eq!(mode(), Mode::Store);
    }
}
