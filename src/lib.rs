//! key-carousel: in-process rotation of LLM API keys, as a sans-IO state machine.
//!
//! A [`Pool`] holds profiles (an API key's id and provider; the key itself stays with the
//! host), decides which one a call gets, how long a failing one rests, and when to fall
//! back to another provider or model. It never reads a clock: every operation takes
//! `now` in milliseconds since the Unix epoch.
//!
//! ```
//! use key_carousel::{Pool, ProfileSpec, Kind, Settings, Reason};
//! let spec = |id: &str| ProfileSpec { id: id.into(), provider: "openai".into(), kind: Kind::Primary };
//! let mut pool = Pool::with_profiles(Settings::v2(), &[spec("a"), spec("b")]).unwrap();
//! let now = 1_700_000_000_000.0;
//! let a = pool.acquire(now, None).unwrap().unwrap();
//! let f = pool.fail(a, now + 5.0, Reason::RateLimit, None, Some(now)).unwrap();
//! assert_eq!(f.cooldown_ms, Some(60_000.0));
//! assert_eq!(pool.acquire(now + 6.0, None).unwrap(), pool.index_of("b"));
//! ```

#![warn(missing_docs)]
// The WebAssembly build is no_std: std's panic handler would bring core's formatting
// into the module (~3.5 KB) for messages nobody reads (a panic aborts). It names the
// allocator std would use (dlmalloc) and a panic handler that traps; see wasm.rs.
#![cfg_attr(all(feature = "wasm", target_arch = "wasm32"), no_std)]

extern crate alloc;

/// What std's prelude gives, from `alloc`: the same in both builds.
#[allow(unused_imports)]
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
    pub use alloc::{format, vec};
}

pub mod backoff;
pub mod classify;
pub mod config;
pub mod pool;
pub mod reason;
pub mod retry;
pub mod selection;
pub mod snapshot;
pub mod status;
mod text;

#[cfg(feature = "wasm")]
mod wasm;

pub use backoff::{Cooldowns, Ladder};
pub use classify::{classify, ErrorFacts, Rules};
pub use config::{ConfigError, Kind, Mode, ProfileSpec, Settings, Strategy, MAX_TIME_MS};
pub use pool::{Error, Failure, PairState, Pool, ProfileState};
pub use reason::{Policy, Reason, ReasonPolicy, Schedule};
pub use snapshot::{merge, pair_id, Imported, Record, Snapshot, FORGET_AFTER_MS, PAIR_SEPARATOR};
pub use status::{
    ModelCooldown, ProfileStatus, State, Status, Totals, PAIR_COLUMNS, STATUS_MAX_COLUMNS, STATUS_TOTALS,
    STATUS_TRAILER,
};
