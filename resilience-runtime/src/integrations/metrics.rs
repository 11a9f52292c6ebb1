//! The snapshot through the `metrics` facade (feature `metrics`).
