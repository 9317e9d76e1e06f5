//! lithoflow's terminal UI.
//!
//! The UI is a client of the scheduler's local API (DESIGN.md §5): it never opens the
//! state database and depends on neither the scheduler nor the executor crate.
//! The views, the event loop and the API client arrive with the terminal UI issue;
//! until then this crate only reserves its place in the workspace's dependency graph.
