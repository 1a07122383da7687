"""The registry of scheduled jobs: each domain registers its own at start-up, and the scheduler
(scheduler.py) runs them. Kept apart from the scheduler so that registering a job needs nothing
the scheduler itself depends on."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Job:
    name: str
    label: str  #: Japanese, for the status pages
    #: Runs in an app context; returns how many things it processed. One that fails after
    #: committing part of its work says how much on the exception (`processed` attribute).
    func: Callable[[], int | None]
    interval: Callable[[dict], int]  #: seconds, read from the app config


JOBS: dict[str, Job] = {}


def register_job(name: str, label: str, func: Callable[[], int | None],
                 interval: Callable[[dict], int]) -> None:
    JOBS[name] = Job(name, label, func, interval)


#: Called with each failed run (a scheduler_models.JobRun) inside the transaction that records
#: it, so what a failure causes (an urgent mail) is written with the record of the failure.
FAILURE_LISTENERS: list[Callable] = []


def on_job_failure(listener: Callable) -> None:
    if listener not in FAILURE_LISTENERS:
        FAILURE_LISTENERS.append(listener)
