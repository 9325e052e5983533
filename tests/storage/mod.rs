//! Object stores (`src/storage/`): every backend, S3 through moto, and a store that fails.

mod backends;
mod fault_proxy;
mod faults;
mod s3;
