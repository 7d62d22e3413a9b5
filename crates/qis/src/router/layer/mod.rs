//! Layers: routers that wrap a router and add one concern, forwarding every method.
//!
//! A concern that cuts across backends lives here once, not inside each backend:
//!
//! - [`Deadline`] (feature `tokio`): no call takes longer than its deadline; a late answer is a
//!   retryable [`Error::Backend`](crate::Error::Backend). The engines' routers come wrapped in
//!   one.
//! - [`Retry`] (feature `tokio`): retryable errors are tried again with exponential backoff and
//!   full jitter, honouring a server's `Retry-After`. Safe for deposits because they are
//!   idempotent on packet ids. [`RouterSpec::open`](super::url::RouterSpec::open) wraps the
//!   `http` router in one.
//! - [`VerifiedOnly`]: with a [`KeyRing`](crate::sign::KeyRing), refuses deposits whose
//!   signature does not verify (and, if asked, unsigned ones) and drops unverified hits.
//! - [`Metered`]: counts calls, packets and errors ([`Meter`]), for a node's metrics or a
//!   simulation's cost model.
//!
//! Layers nest (`Retry<Deadline<R>>`), and each passes the conformance suite around the memory
//! router (`tests/layers.rs`). Every one implements every [`Router`](super::Router) method
//! itself (`#[deny(clippy::missing_trait_methods)]`), so a method added to the trait cannot
//! silently skip a layer.

#[cfg(feature = "tokio")]
mod deadline;
mod metered;
#[cfg(feature = "tokio")]
mod retry;
mod verified;

#[cfg(feature = "tokio")]
pub use deadline::{Deadline, Deadlines, within};
pub use metered::{Meter, Metered};
#[cfg(feature = "tokio")]
pub use retry::{Retry, RetryPolicy};
pub use verified::{Unsigned, VerifiedOnly};
