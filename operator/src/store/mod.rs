//! The Postgres desired-state store.
