//! Tests of the CMP module: unit tests, the Siemens CMP test-suite samples,
//! and interoperability with the OpenSSL 3.0 `openssl cmp` client and its
//! in-process mock server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod openssl;
mod samples;
mod unit;
