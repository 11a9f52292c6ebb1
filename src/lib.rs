//! Support code for the workspace's examples and integration tests: not published.
