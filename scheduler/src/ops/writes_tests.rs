//! Tests of the write paths on stored runs.
