"""The actors' registry: ``@job_actor`` registers a plain function ``fn(message_id, **kw)``;
``declare(broker)`` binds every registered one to a broker at start-up (a bound actor
reads its message id from ``CurrentMessage``). Registering connects to nothing."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage

from workers import runtime
from workers.outbox import QUEUE

ACTORS: dict[str, Callable[..., Any]] = {}
declared: dict[str, dramatiq.Actor] = {}


def job_actor(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``fn(message_id, **kwargs)`` to be declared as the actor ``fn.__name__``
    (done again at once if its append raced another worker's)."""
    body = runtime.retried_on_race(fn)
    ACTORS[fn.__name__] = body
    return body


def bind(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as an actor body: the message id comes from the message being processed."""

    @functools.wraps(fn)
    def body(*args: Any, **kwargs: Any) -> None:
        message = CurrentMessage.get_current_message()
        if message is None:
            raise RuntimeError(f"{fn.__name__} runs in a worker; call it with a message id")
        fn(message.message_id, *args, **kwargs)

    return body


def declare(broker: dramatiq.Broker) -> dict[str, dramatiq.Actor]:
    """Declare every registered actor on ``broker`` (again, if a test changed brokers)."""
    declared.clear()
    for name, fn in ACTORS.items():
        if name in broker.actors:  # declared on this broker before
            declared[name] = broker.actors[name]
        else:
            declared[name] = dramatiq.actor(
                bind(fn), actor_name=name, queue_name=QUEUE, broker=broker
            )
    return declared
