"""A finite-state machine whose states are coroutines that await each other.

States S0 (start), S1, S2, S3 and S4 (end). In each state an input bit is
drawn (from a seeded generator, so runs are reproducible) and the state
``await``s the coroutine of the next state; the returned strings are
concatenated into a description of the path taken. Each machine is driven
with ``loop.run_until_complete`` on an explicit event loop.

Transitions:  S0 -0-> S2, S0 -1-> S1, S1 -0-> S3, S1 -1-> S2,
              S2 -0-> S1, S2 -1-> S3, S3 -0-> S1, S3 -1-> S4.
"""

import asyncio
import random


class Machine:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.steps = 0

    async def evaluate(self) -> int:
        """Draw the next input bit; the short sleep stands for real work."""
        await asyncio.sleep(0.002)
        self.steps += 1
        print("  ...evaluating...")
        return self.rng.randint(0, 1)

    async def start_state(self) -> str:
        print("  start state")
        bit = await self.evaluate()
        nxt = self.state2 if bit == 0 else self.state1
        return "S0 -> " + await nxt(bit)

    async def state1(self, value: int) -> str:
        bit = await self.evaluate()
        nxt = self.state3 if bit == 0 else self.state2
        return f"S1 (in={value}) -> " + await nxt(bit)

    async def state2(self, value: int) -> str:
        bit = await self.evaluate()
        nxt = self.state1 if bit == 0 else self.state3
        return f"S2 (in={value}) -> " + await nxt(bit)

    async def state3(self, value: int) -> str:
        bit = await self.evaluate()
        nxt = self.state1 if bit == 0 else self.end_state
        return f"S3 (in={value}) -> " + await nxt(bit)

    async def end_state(self, value: int) -> str:
        print("  ...stop computation...")
        return f"S4 (in={value})"


def main() -> None:
    print("Finite state machine simulated with coroutines")
    loop = asyncio.new_event_loop()
    try:
        for seed in (7, 10, 3):
            machine = Machine(seed)
            print(f"seed {seed}:")
            path = loop.run_until_complete(machine.start_state())
            print(f"  resume of the transitions ({machine.steps} evaluations):")
            for hop in path.split(" -> "):
                print(f"    {hop}")
    finally:
        loop.close()


if __name__ == "__main__":
    main()
