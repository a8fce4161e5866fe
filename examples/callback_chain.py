"""Plain callbacks that hand control to each other through the event loop.

Three callbacks, ``step_a`` -> ``step_b`` -> ``step_c`` -> ``step_a`` ..., each
schedule the next one with ``loop.call_later`` until a fixed number of rounds
has been done, then stop the loop. Shows ``new_event_loop``, ``call_soon``,
``call_later``, ``call_at``, ``time``, ``run_forever``, ``stop``,
``is_running``, ``is_closed``, cancelling a timer handle and ``close``.
"""

import asyncio
import time

ROUNDS = 3
DELAY = 0.01  # seconds between two links of the chain


class Chain:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.calls = 0
        self.last_time = loop.time()
        self.watchdog: asyncio.TimerHandle | None = None

    def _link(self, name: str, work: float, next_step) -> None:
        now = self.loop.time()
        assert now >= self.last_time, "loop.time() went backwards"
        self.last_time = now
        self.calls += 1
        print(f"{name} called (call #{self.calls}, loop running: {self.loop.is_running()})")
        time.sleep(work)  # a blocking piece of work: nothing else runs meanwhile
        if self.calls < 3 * ROUNDS:
            self.loop.call_later(DELAY, next_step)
        else:
            print(f"{name}: {ROUNDS} rounds done, stopping the loop")
            if self.watchdog is not None:
                self.watchdog.cancel()
            self.loop.stop()

    def step_a(self) -> None:
        self._link("step_a", 0.001, self.step_b)

    def step_b(self) -> None:
        self._link("step_b", 0.002, self.step_c)

    def step_c(self) -> None:
        self._link("step_c", 0.003, self.step_a)


def watchdog_fired(loop: asyncio.AbstractEventLoop) -> None:
    print("watchdog fired: the chain took far too long")
    loop.stop()


def scheduling_order(loop: asyncio.AbstractEventLoop) -> None:
    """Callbacks run by due time; call_soon callbacks run first, in FIFO order."""
    order: list[str] = []
    loop.call_later(0.06, order.append, "later 60ms")
    loop.call_later(0.02, order.append, "later 20ms")
    loop.call_at(loop.time() + 0.04, order.append, "at +40ms")
    loop.call_soon(order.append, "soon 1")
    loop.call_soon(order.append, "soon 2")
    cancelled = loop.call_later(0.03, order.append, "never")
    cancelled.cancel()
    loop.call_later(0.08, loop.stop)
    loop.run_forever()
    print("scheduling order:", ", ".join(order))
    print("cancelled handle reports cancelled():", cancelled.cancelled())


def main() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        scheduling_order(loop)

        chain = Chain(loop)
        chain.watchdog = loop.call_at(loop.time() + 30.0, watchdog_fired, loop)
        loop.call_soon(chain.step_a)
        print("before run_forever, loop running:", loop.is_running())
        loop.run_forever()
        print("after run_forever, loop running:", loop.is_running())
        print("watchdog cancelled:", chain.watchdog.cancelled())
        print("total calls:", chain.calls)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    print("loop closed:", loop.is_closed())


if __name__ == "__main__":
    main()
