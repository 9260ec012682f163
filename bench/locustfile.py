"""The locust users of ``bench/api_load.py``: each sends one request after another to one
endpoint of the API, with the bench's admin key, waiting ``--bench-wait`` seconds on average
between them, and before the first (uniformly drawn from 0 to twice that: users spawned in the
same second would otherwise keep arriving in bursts).

``--bench-scenario execute`` posts ``/api/v1/workflows/{--bench-target}/execute`` (202 expected);
``--bench-scenario get_run`` reads ``/api/v1/runs/{--bench-target}`` (200 expected). The key comes
from ``BENCH_API_KEY`` so that it stays out of the process list. Any other status is a failure in
locust's statistics.
"""

from __future__ import annotations

import random

from locust import FastHttpUser, events, task

REQUEST_NAMES = {
    "execute": "POST /api/v1/workflows/{id}/execute",
    "get_run": "GET /api/v1/runs/{id}",
}


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--bench-scenario", choices=sorted(REQUEST_NAMES), default="get_run")
    parser.add_argument("--bench-target", default="", help="workflow id (execute) or run id")
    parser.add_argument("--bench-wait", type=float, default=0.0, help="seconds between requests")
    parser.add_argument("--bench-key", env_var="BENCH_API_KEY", default="", is_secret=True)


class ApiClient(FastHttpUser):
    def wait_time(self) -> float:
        return random.uniform(0, 2 * self.environment.parsed_options.bench_wait)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.scenario = options.bench_scenario
        self.target = options.bench_target
        self.headers = {"Authorization": f"Bearer {options.bench_key}"}
        self.wait()  # users spawned in the same second would send their first request together

    @task
    def request(self) -> None:
        name = REQUEST_NAMES[self.scenario]
        if self.scenario == "execute":
            with self.client.post(
                f"/api/v1/workflows/{self.target}/execute",
                json={"input_data": {}},
                headers=self.headers,
                name=name,
                catch_response=True,
            ) as response:
                if response.status_code != 202:
                    response.failure(f"status {response.status_code}")
        else:
            self.client.get(f"/api/v1/runs/{self.target}", headers=self.headers, name=name)
