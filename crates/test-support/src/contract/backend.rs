//! The backend itself: it answers.

use assistd_core::Store;
use std::sync::Arc;

#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_backend {
    ($factory:ident, $module:ident) => {
        $crate::store_contract_tests!(@cases $factory, $module;
            ping,
        );
    };
}
#[doc(hidden)]
pub use crate::__store_contract_backend as cases;

/// The backend answers.
pub async fn ping(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
}
