//! Projects: the tenancy boundary. Each API key maps to one project, and every stored object
//! belongs to exactly one.

use std::fmt;
use std::sync::Arc;

/// An isolated namespace of objects. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Project(Arc<str>);

impl Project {
    /// The project named `name`.
    pub fn new(name: impl AsRef<str>) -> Self {
        Self(Arc::from(name.as_ref()))
    }

    /// Its name, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Project {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
