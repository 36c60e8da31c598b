"""The send-a-test form: runs what `mailops send-test` runs and shows its outcome.

A test takes up to two minutes (the message has to reach its destination and show up
in the delivery log), so the POST starts it as a job and redirects to the job's page,
which reloads itself (a meta refresh, no script) with the progress until the outcome
is there.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..inventory import is_address
from .web import Request, Response, page, redirect

if TYPE_CHECKING:
    from .sources import Sources

REFRESH_SECONDS = 2
KEEP_JOBS = 50  # finished tests kept to be shown again; older ones are forgotten


@dataclass
class Job:
    id: str
    address: str
    sender: str
    started: dt.datetime
    progress: list[str] = field(default_factory=list)
    result: dict | None = None
    error: str = ""
    done: bool = False


class Jobs:
    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, address: str, sender: str) -> Job:
        job = Job(secrets.token_urlsafe(12), address, sender, dt.datetime.now(dt.UTC))
        with self._lock:
            self._jobs[job.id] = job
            for old in list(self._jobs)[:-KEEP_JOBS]:
                del self._jobs[old]
        threading.Thread(target=self._run, args=(job,), daemon=True,
                         name=f"send-test-{job.id}").start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: Job) -> None:
        try:
            job.result = self.sources.send_test(job.address, job.sender or None,
                                                on_progress=job.progress.append)
        except Exception as e:  # noqa: BLE001 - the page shows why the test did not run
            job.error = str(e) or type(e).__name__
        finally:
            job.done = True


def view(request: Request) -> Response:
    job = request.jobs.get(request.arg("job")) if request.arg("job") else None
    if request.arg("job") and job is None:
        return page(request, "message.html.j2", status=404, title="No such test",
                    text="that test is not known (the dashboard was restarted?); send "
                         "another one")
    return page(request, "sendtest.html.j2", title="Send a test", job=job,
                refresh=REFRESH_SECONDS if job and not job.done else 0,
                address=request.arg("address"), sender="", errors={},
                domains=request.sources.domains, fields=_fields)


def start(request: Request) -> Response:
    address, sender = request.field("address").lower(), request.field("from").lower()
    errors = {}
    if not is_address(address):
        errors["address"] = f"found {address!r}; expected an address such as bob@example.com"
    if sender and not is_address(sender):
        errors["from"] = f"found {sender!r}; expected an address of a hosted domain, or nothing"
    elif sender and sender.rpartition("@")[2] not in request.sources.domains:
        errors["from"] = (f"found {sender!r}; expected an address of a hosted domain "
                          f"({', '.join(request.sources.domains)}), or nothing")
    if errors:
        return page(request, "sendtest.html.j2", status=400, title="Send a test", job=None,
                    refresh=0, address=address, sender=sender, errors=errors,
                    domains=request.sources.domains, fields=_fields)
    job = request.jobs.start(address, sender)
    return redirect("/send-test", job=job.id)


# How a result's fields are shown, in this order; any other field follows as it is.
# ``rows`` (the delivery-log rows) is the timeline link instead; empty fields are left out.
FIRST_FIELDS = ("state", "recipient", "sender", "reply", "dsn", "relay", "folder", "attempts",
                "elapsed", "authentication_results", "received_spf", "mailbox",
                "dkim_domain", "dkim_selector", "host", "queue_id", "message_id")
HIDDEN = {"rows", "delivered"}


def _fields(result: dict) -> list[tuple[str, Any]]:
    ordered = [k for k in FIRST_FIELDS if k in result]
    ordered += [k for k in result if k not in ordered and k not in HIDDEN]
    return [(k, v) for k in ordered
            if not ((v := result[k]) is False or v in (None, "", [], {}))]
