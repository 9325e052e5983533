//! The Apache DataFusion Ballista processes this binary starts: the
//! scheduler ([`scheduler`]) and executor ([`executor`]) a run with
//! `engine: { kind: ballista }` connects to ([`crate::engine::ballista`]). They are ours, not Ballista's stock binaries, because
//! a plan that calls `bg_nbd_fit` or reads `gs://` can only be decoded and
//! run where our functions and object stores are registered.

pub mod executor;
pub mod scheduler;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::storage::registry::StoreRegistry;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
    #[error("{0}")]
    Invalid(String),
}

/// The session a scheduler plans in and an executor runs tasks in: the
/// client's settings (Ballista sends them with every job), DataFusion's
/// functions and ours, and the object stores of [`StoreRegistry`].
/// Spill files go to `work_dir` when given, as Ballista's own executor
/// does.
pub fn server_state(
    config: SessionConfig,
    stores: Arc<StoreRegistry>,
    work_dir: Option<&Path>,
) -> Result<SessionState> {
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(server_runtime(stores, work_dir)?)
        .with_default_features()
        .build();
    let ctx = SessionContext::new_with_state(state);
    crate::functions::register(&ctx);
    Ok(ctx.state())
}

/// The runtime of a server session: our object stores, and spill files
/// in `work_dir` when given.
pub fn server_runtime(
    stores: Arc<StoreRegistry>,
    work_dir: Option<&Path>,
) -> Result<Arc<RuntimeEnv>> {
    let mut runtime = RuntimeEnvBuilder::new().with_object_store_registry(stores);
    if let Some(dir) = work_dir {
        runtime = runtime.with_temp_file_path(dir);
    }
    runtime.build_arc()
}

/// A port nobody listens on at `ip` now, for the ports an operator did not
/// give: the OS picks it, and it is free again once the probe is dropped.
pub fn free_port(ip: IpAddr) -> Result<u16, ClusterError> {
    std::net::TcpListener::bind(SocketAddr::new(ip, 0))
        .and_then(|probe| probe.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| ClusterError::Io {
            what: format!("cannot find a free port on {ip}"),
            source,
        })
}

/// `host:port`, resolved (a name such as `scheduler:50050` is allowed).
pub fn parse_address(text: &str) -> Result<(String, u16), ClusterError> {
    let invalid = || ClusterError::Invalid(format!("{text:?} is not HOST:PORT"));
    let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(invalid());
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_host_and_port() {
        assert_eq!(
            parse_address("scheduler:50050").unwrap(),
            ("scheduler".to_string(), 50050)
        );
        assert_eq!(
            parse_address("[::1]:7000").unwrap(),
            ("::1".to_string(), 7000)
        );
        for bad in ["scheduler", ":50050", "host:port", "host:70000"] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_server_session_knows_our_functions() {
        let stores = Arc::new(StoreRegistry::new(Default::default()));
        let state = server_state(SessionConfig::new(), stores, None).unwrap();
        for udf in ["bg_nbd_p_alive", "clv_discounted", "local_time"] {
            assert!(state.scalar_functions().contains_key(udf), "{udf}");
        }
        assert!(state.aggregate_functions().contains_key("bg_nbd_fit"));
        assert!(state.scalar_functions().contains_key("date_trunc"));
    }
}
