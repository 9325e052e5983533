"""The nightly advocacy run from Airflow (2.7 or later), on a worker where the
binary and the config are installed (in a pod on the cluster, run the same
command with KubernetesPodOperator and the image of deploy/Dockerfile).

advocacy's exit codes decide what Airflow does:
  0  success
  1  the run failed (a source could not be loaded, a model failed, storage):
     retried, since a store or a node may be back
  2  invalid config, SQL or arguments: failed at once, a retry cannot help
  3  data tests failed, or a source is missing or stale: the reports built on
     it were held back on purpose and the last good ones stay; failed at once
  4  another run holds the warehouse lock: failed at once (the next schedule
     runs again)
`--log-format json` ends every run with one `run_finished` line (run id, run
date, status, exit code, counts, seconds), which the task log keeps.

The DAG run's logical date is the run date: a cleared or backfilled DAG run
rebuilds exactly that day (a date before the newest one published writes
`history/` only, never the latest reports).
"""

import subprocess
from datetime import timedelta

import pendulum
from airflow.decorators import dag, task
from airflow.exceptions import AirflowException, AirflowFailException

CONFIG = "/etc/advocacy/advocacy.yaml"
# Exit codes a retry cannot fix (see above).
NO_RETRY = {2: "invalid config or SQL", 3: "data tests failed or a source is stale",
            4: "another run holds the warehouse lock"}


@dag(
    dag_id="advocacy_nightly",
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Berlin"),
    catchup=False,
    max_active_runs=1,
    tags=["advocacy"],
)
def advocacy_nightly():
    # A run that hangs is stopped after 4 hours: SIGTERM releases the lock.
    @task(retries=2, retry_delay=timedelta(minutes=10), execution_timeout=timedelta(hours=4))
    def run(ds=None):
        command = ["advocacy", "run", "--config", CONFIG, "--date", ds, "--log-format", "json"]
        code = subprocess.run(command, check=False).returncode
        if code in NO_RETRY:
            raise AirflowFailException(f"advocacy exited {code} ({NO_RETRY[code]}): not retried")
        if code != 0:
            raise AirflowException(f"advocacy exited {code}: the run failed")

    run()


advocacy_nightly()
