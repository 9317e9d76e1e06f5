//! Tests of the API router.
