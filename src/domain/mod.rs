//! The types the decision engine reasons about: consent events and the
//! consent state of a number, its contact history, categories and levels.
//!
//! The bottom layer of the crate: no I/O, no clock, no wire or storage
//! format. `policy` decides over these types, `consent` stores them (through
//! versioned records of its own) and `api` converts them to and from proto.

mod contact;
mod event;
mod state;
mod tenant;

pub use contact::{ContactHistory, Retention, SentMessage};
pub use event::{
    Action, Category, ConsentEvent, Evidence, Level, NewEvent, RndAnswer, Scope, Source, MATCHED_EXTRA_KEY,
    REPLY_LANGUAGE_EXTRA_KEY, RND_DISCONNECTED_EXTRA_KEY,
};
pub use state::{ContactConsent, Marker, RndCheck, ScopeState, Status};
pub use tenant::TenantId;
