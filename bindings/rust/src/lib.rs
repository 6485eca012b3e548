//! Rust bindings to `libringkernel.so.1` (the raw layer; the safe API follows).
#![deny(missing_docs)]

pub mod sys;
