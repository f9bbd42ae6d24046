//! Locking shared state.

use std::sync::{Mutex, MutexGuard};

/// The guard even when the lock is poisoned: poisoning only says that a
/// panic happened elsewhere while it was held, and the emulators must keep
/// serving (and the engine keep running) rather than fail every later call.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
