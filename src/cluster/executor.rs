//! `advocacy executor`: Ballista's executor, decoding plans with our
//! functions and reading and writing through our object stores, with
//! Ballista's `/healthz` (alive) and `/readyz` (its last heartbeat to the
//! scheduler succeeded) on a port of its own.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::health::spawn_health_server;
use datafusion::prelude::SessionConfig;

use super::{ClusterError, free_port, server_runtime, server_state};
use crate::storage::StorageOptions;
use crate::storage::registry::StoreRegistry;

/// How long an executor keeps trying to reach its scheduler at start.
const SCHEDULER_WAIT_SECONDS: u16 = 60;

pub struct ExecutorOptions {
    /// The scheduler's host and port.
    pub scheduler: (String, u16),
    /// Where this executor serves its results to other executors and to
    /// clients (Arrow Flight).
    pub bind: SocketAddr,
    /// The host others are told to fetch results from; the bind address
    /// when that is a specific one (a pod sets its own IP).
    pub external_host: Option<String>,
    /// The port the scheduler pushes tasks to; a free one when not given.
    pub grpc_port: Option<u16>,
    /// The port of `/healthz` and `/readyz`; a free one when not given.
    pub health_port: Option<u16>,
    /// Shuffle files and spills; a temporary folder when not given.
    pub work_dir: Option<PathBuf>,
    /// Tasks run at once; 0 is one per core.
    pub concurrent_tasks: usize,
    /// The memory pool shared by the running tasks, in bytes; `None` is
    /// Ballista's default (a share of the host's or container's memory).
    pub memory_pool_size: Option<u64>,
    /// `storage:` of the run's config: how to open its buckets.
    pub storage: StorageOptions,
}

/// The ports an executor ended up with, as it logs them.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub flight: u16,
    pub grpc: u16,
    pub health: u16,
}

/// Fills in the ports that were not given.
pub fn ports(options: &ExecutorOptions) -> Result<Ports, ClusterError> {
    let ip = options.bind.ip();
    let pick = |given: Option<u16>| given.map_or_else(|| free_port(ip), Ok);
    Ok(Ports {
        flight: options.bind.port(),
        grpc: pick(options.grpc_port)?,
        health: pick(options.health_port)?,
    })
}

/// Runs the executor until SIGTERM or Ctrl-C (Ballista handles both: it
/// tells the scheduler it is terminating and lets running tasks finish).
pub async fn serve(options: ExecutorOptions) -> Result<(), ClusterError> {
    let ports = ports(&options)?;
    let stores = Arc::new(StoreRegistry::new(options.storage));
    let work_dir = options.work_dir.clone();
    let functions = server_state(SessionConfig::new(), stores.clone(), None)
        .map_err(|e| ClusterError::Invalid(e.to_string()))?;
    let runtime_stores = stores.clone();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: options
            .external_host
            .or_else(|| advertised(options.bind.ip())),
        port: ports.flight,
        grpc_port: ports.grpc,
        scheduler_host: options.scheduler.0,
        scheduler_port: options.scheduler.1,
        // Pods start in any order: wait for a scheduler that comes up late.
        scheduler_connect_timeout_seconds: SCHEDULER_WAIT_SECONDS,
        vcores: options.concurrent_tasks,
        work_dir: work_dir
            .as_ref()
            .map(|dir| dir.to_string_lossy().into_owned()),
        memory_pool_size: options.memory_pool_size,
        override_function_registry: Some(Arc::new(BallistaFunctionRegistry::from(&functions))),
        // Every task's runtime: our object stores, spills in the work dir
        // (Ballista's own default producer puts them there too).
        override_runtime_producer: Some(Arc::new(move |_: &SessionConfig| {
            server_runtime(runtime_stores.clone(), work_dir.as_deref())
        })),
        ..ExecutorProcessConfig::default()
    };
    let health_address = SocketAddr::new(options.bind.ip(), ports.health);
    let (stop_health, health_stopped) = tokio::sync::oneshot::channel();
    let health = spawn_health_server(health_address, config.health.clone(), health_stopped);
    tracing::info!(
        flight = %options.bind,
        grpc_port = ports.grpc,
        health = %health_address,
        scheduler = %format!("{}:{}", config.scheduler_host, config.scheduler_port),
        "Ballista executor starting"
    );
    let result = start_executor_process(Arc::new(config)).await;
    let _ = stop_health.send(());
    let _ = health.await;
    result?;
    tracing::info!("executor stopped");
    Ok(())
}

/// A specific bind address is also the one to advertise; for 0.0.0.0 the
/// scheduler takes the address the executor's registration came from.
fn advertised(ip: IpAddr) -> Option<String> {
    (!ip.is_unspecified()).then(|| ip.to_string())
}
