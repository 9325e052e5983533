//! The run's session with `engine: ballista`: queries are planned here and
//! executed by the scheduler's executors; results stream back to this
//! process, which writes them to the warehouse as a local run does.

use std::time::Duration;

use ::ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionContext;

/// How long a run waits for the scheduler to accept a connection before
/// it fails with a clear error instead of at its first query.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Turns a local session (our settings, functions and the run's object
/// stores) into one whose queries run on the cluster at `scheduler`
/// (`df://host:port`).
pub async fn connect(scheduler: &str, state: SessionState) -> Result<SessionContext> {
    reachable(scheduler).await?;
    // Ballista's adaptive planner (on by default in 55) re-plans a join of
    // the bundled models into thousands of stages and never finishes
    // (measured: one `int_reviews` job past 40,000 stages in 25 minutes);
    // the static planner runs the same job in seconds.
    let config = state
        .config()
        .clone()
        .upgrade_for_ballista()
        .with_ballista_adaptive_query_planner(false);
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    let ctx = SessionContext::remote_with_state(scheduler, state).await?;
    // `upgrade_for_ballista` replaces the session's function lists with
    // Ballista's defaults, so ours are registered again; the scheduler and
    // executors resolve them by name in their own sessions.
    crate::functions::register(&ctx);
    Ok(ctx)
}

async fn reachable(scheduler: &str) -> Result<()> {
    let url = url::Url::parse(scheduler)
        .map_err(|e| DataFusionError::Configuration(format!("engine.scheduler: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    let port = url.port().unwrap_or_default();
    let fail = |why: String| {
        DataFusionError::Execution(format!(
            "cannot reach the Ballista scheduler at {scheduler} (engine.scheduler): {why}"
        ))
    };
    match tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Err(fail(format!(
            "no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}
