//! `advocacy scheduler` and `advocacy executor`: the cluster's processes
//! (the library's `cluster` module), in a binary built with the `ballista`
//! feature; without it, both say how to build one.

#[cfg(feature = "ballista")]
pub use with_ballista::{run_executor, run_scheduler};
#[cfg(not(feature = "ballista"))]
pub use without_ballista::{run_executor, run_scheduler};

#[cfg(not(feature = "ballista"))]
mod without_ballista {
    use crate::cli::{ExecutorArgs, SchedulerArgs};
    use advocacy::run::exit;

    pub fn run_scheduler(_: SchedulerArgs) -> i32 {
        not_built_in()
    }

    pub fn run_executor(_: ExecutorArgs) -> i32 {
        not_built_in()
    }

    fn not_built_in() -> i32 {
        eprintln!("error: {}", advocacy::config::WITHOUT_BALLISTA);
        exit::INVALID
    }
}

#[cfg(feature = "ballista")]
mod with_ballista {
    use std::path::PathBuf;

    use advocacy::blocking;
    use advocacy::cluster::ClusterError;
    use advocacy::cluster::executor::ExecutorOptions;
    use advocacy::cluster::scheduler::SchedulerOptions;
    use advocacy::config::units::parse_bytes;
    use advocacy::run::exit;

    use crate::cli::{ExecutorArgs, SchedulerArgs};
    use crate::logging;

    /// The `storage:` options of `--config`, or none.
    fn server_storage(config: Option<&PathBuf>) -> Result<advocacy::storage::StorageOptions, i32> {
        match config {
            None => Ok(Default::default()),
            Some(path) => advocacy::config::load_storage(path).map_err(|e| {
                eprintln!("error: {e}");
                exit::INVALID
            }),
        }
    }

    pub fn run_scheduler(args: SchedulerArgs) -> i32 {
        logging::init_server(&args.log);
        let storage = match server_storage(args.config.as_ref()) {
            Ok(storage) => storage,
            Err(code) => return code,
        };
        let options = SchedulerOptions {
            external_host: args.external_host,
            storage,
        };
        server_exit(blocking::serve_scheduler(args.bind, options))
    }

    pub fn run_executor(args: ExecutorArgs) -> i32 {
        logging::init_server(&args.log);
        let storage = match server_storage(args.config.as_ref()) {
            Ok(storage) => storage,
            Err(code) => return code,
        };
        let invalid = |message: String| {
            eprintln!("error: {message}");
            exit::INVALID
        };
        let scheduler = match advocacy::cluster::parse_address(&args.scheduler) {
            Ok(address) => address,
            Err(e) => return invalid(format!("--scheduler: {e}")),
        };
        let memory_pool_size = match args
            .memory_pool_size
            .as_deref()
            .map(parse_bytes)
            .transpose()
        {
            Ok(size) => size.map(|bytes| bytes as u64),
            Err(e) => return invalid(format!("--memory-pool-size: {e}")),
        };
        let options = ExecutorOptions {
            scheduler,
            bind: args.bind,
            external_host: args.external_host,
            grpc_port: args.grpc_port,
            health_port: args.health_port,
            work_dir: args.work_dir,
            concurrent_tasks: args.concurrent_tasks,
            memory_pool_size,
            storage,
        };
        server_exit(blocking::serve_executor(options))
    }

    fn server_exit(served: Result<(), ClusterError>) -> i32 {
        match served {
            Ok(()) => exit::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", advocacy::config::redact(&e.to_string()));
                exit::FAILED
            }
        }
    }
}
