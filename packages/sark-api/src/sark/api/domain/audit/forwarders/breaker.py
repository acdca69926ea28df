"""A circuit breaker: stop calling a failing collector, probe it again after a cool-down."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class CircuitState(enum.IntEnum):
    """Breaker states, as exported by ``sark_siem_circuit_state`` (0, 1, 2)."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitBreaker:
    """Closed until ``threshold`` consecutive failures; open for ``reset_seconds``; then one probe.

    A success closes the circuit; a failure while half-open opens it again for another
    cool-down.
    """

    def __init__(
        self,
        threshold: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self.opened_count = 0
        """How many times the circuit has opened (for tests and diagnostics)."""

    @property
    def state(self) -> CircuitState:
        """The current state; an open circuit turns half-open once its cool-down is over."""
        if self._state is CircuitState.OPEN and self.time_until_probe() <= 0:
            self._state = CircuitState.HALF_OPEN
        return self._state

    def allows(self) -> bool:
        """Whether a request may be sent now."""
        return self.state is not CircuitState.OPEN

    def time_until_probe(self) -> float:
        """Seconds until an open circuit lets one probe through (0 when not open)."""
        if self._state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_seconds - self._clock())

    def record_success(self) -> None:
        """A request succeeded: close the circuit."""
        self._failures = 0
        self._state = CircuitState.CLOSED

    def record_failure(self) -> None:
        """A request failed: open after ``threshold`` in a row, or at once when half-open."""
        self._failures += 1
        if self._state is CircuitState.HALF_OPEN or self._failures >= self.threshold:
            if self._state is not CircuitState.OPEN:
                self.opened_count += 1
            self._state = CircuitState.OPEN
            self._opened_at = self._clock()
