//! The source of "now". Handlers take time from here, never from the system
//! directly, so tests can pin it.

use std::sync::Arc;

use jiff::Timestamp;

/// Something that tells the current instant.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A shareable clock.
pub type SharedClock = Arc<dyn Clock>;
