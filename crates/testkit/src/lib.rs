//! Test support shared by the workspace's integration tests, so that each
//! test file keeps only what it is about. A dev-dependency only: helpers here
//! panic instead of returning errors, because a failed setup is a failed test.

use std::future::Future;

pub mod cmd;
pub mod ipvs;
pub mod netns;
pub mod uml;

/// Runs `f` on a runtime of its own: tests that enter a namespace or run in a
/// guest do so on a plain thread, which has none.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}
