//! `advocacy scheduler`: Ballista's scheduler, planning in a session that
//! knows our functions and object stores ([`super::server_state`]). It
//! serves gRPC to clients and executors and, on the same port, the
//! `/healthz` (alive) and `/readyz` (an executor has registered) probes.

use std::future::Future;
use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tokio::net::TcpListener;

use super::{ClusterError, server_state};
use crate::storage::StorageOptions;
use crate::storage::registry::StoreRegistry;

pub struct SchedulerOptions {
    /// The host executors and clients are told to reach this scheduler
    /// at; the listener's address when not given.
    pub external_host: Option<String>,
    /// `storage:` of the run's config: how to open its buckets.
    pub storage: StorageOptions,
}

/// Serves the scheduler on `listener` until `shutdown` completes (the CLI
/// passes SIGTERM or Ctrl-C; tests bind port 0 and learn the address from
/// the listener first).
pub async fn serve(
    listener: TcpListener,
    options: SchedulerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ClusterError> {
    let address = listener.local_addr().map_err(|source| ClusterError::Io {
        what: "scheduler listener".into(),
        source,
    })?;
    let stores = Arc::new(StoreRegistry::new(options.storage));
    let config = SchedulerConfig {
        bind_host: address.ip().to_string(),
        bind_port: address.port(),
        external_host: options
            .external_host
            .unwrap_or_else(|| address.ip().to_string()),
        override_session_builder: Some(Arc::new(move |config| {
            server_state(config, stores.clone(), None)
        })),
        ..SchedulerConfig::default()
    };
    config.validate()?;
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config).await?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config.clone()).await?;
    tracing::info!(
        address = %address,
        external_host = %config.external_host,
        "Ballista scheduler listening (gRPC, /healthz, /readyz)"
    );
    tokio::select! {
        served = start_grpc_service_with_listener(listener, scheduler) => served?,
        () = shutdown => tracing::info!("scheduler stopping"),
    }
    Ok(())
}
