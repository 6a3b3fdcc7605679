"""In-place stepping of a whole batch of trials, in cache-sized blocks, on several threads.

A step of an update rule reads the gradient and every buffer once and writes every buffer once:
for adam that is g, m, v, θ read and m, v, θ written, seven arrays of K·D float64. Written
naively, each of the ~15 NumPy operations of the step streams whole arrays through memory and
allocates a temporary; the step then costs about ten times that floor.

``Stepper`` keeps the traffic at the floor: it binds to buffers the runner owns, cuts the (K, D)
arrays into blocks of about ``block`` elements (whole rows, or pieces of one row when D is large),
and runs the rule's kernel block by block, so that its temporaries live in a small per-thread
scratch that stays in cache and each big array is streamed once. The blocks are shared among
``threads`` threads: NumPy releases the GIL inside its loops. Small batches (the common D = 2
sweep) take a single kernel call, where the cost is NumPy's per-call overhead.

A block's kernel sees rows of hyperparameters matching its rows of parameters, so the result is
bit-for-bit the result of one call over the whole arrays.

Hyperparameters arrive as (K, 1) columns. One that holds the same number for every trial of the
chunk becomes a Python float (``rules.constant``): a scalar operand costs nothing beyond the
array's own pass. Against (K, D) operands with small D, NumPy cannot fuse a column's broadcast
into one loop and runs K inner loops of length D, which costs four times a plain pass at D = 2;
so for D ≤ ``BROADCAST_MAX_DIM`` the stepper keeps the columns that vary at full (K, D) width (the
same numbers, repeated along each row). Wider batches keep the columns: there the inner loops are
long and full-width copies would only add memory traffic.

The rule is bound to the chunk once (``Rule.prepare``, per block), and a step is one call of the
bound kernel: ``advance`` does nothing else, and ``run`` loops over a window of steps with no
call in a step but the objective's and the kernel's; ``state`` (with its update count) is
brought up to date when it is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

import numpy as np

from .rules import Array, Rule, State, constant, scratch
from .transforms import Chain

BROADCAST_MAX_DIM = 16  # up to this D, hyperparameters are stored at full (K, D) width
DEFAULT_BLOCK = 1 << 17  # elements per block (1 MiB per array): big enough to amortise thread hand-offs


class Stepper:
    """Advance ``params`` and ``state`` in place, one update per call.

    Args:
      rule: the update rule, or a ``Chain`` (a rule with its schedule and clipping).
      params: (K, D) parameters, updated in place.
      state: the rule's state for ``params``; its buffers are updated in place.
      hp: hyperparameters, each (K, 1) or a float (and a chain's ``schedule.*`` and ``clip.*``
        numbers).
      threads: how many threads share the blocks of a large batch.
      block: elements per block.
    """

    def __init__(self, rule: Rule | Chain, params: Array, state: State,
                 hp: Mapping[str, Array | float], threads: int = 1,
                 block: int = DEFAULT_BLOCK) -> None:
        chain = rule if isinstance(rule, Chain) else Chain(rule)
        rule = chain.rule
        k, d = params.shape
        own = {h.name for h in rule.hyperparameters}
        hp = {name: constant(v) for name, v in hp.items()}
        if d <= BROADCAST_MAX_DIM:
            hp = {name: v if isinstance(v, float) or name not in own else
                  np.ascontiguousarray(np.broadcast_to(v, (k, d))) for name, v in hp.items()}
        self.chain = chain
        self.rule = rule
        self.params = params
        self._state = state
        self._count: int = state.count
        self.hp = hp
        self._pool: ThreadPoolExecutor | None = None
        self._pre = chain.pre(hp, (k, d))
        self._lr = chain.learning_rate(hp)
        rule_hp = {name: v for name, v in hp.items() if name in own}
        if k * d < 4 * block:
            self._blocks: list[tuple[Any, Any]] = []
            self._tmp = scratch(params)
            self._step = rule.prepare(rule_hp)
            return
        rows = max(1, block // d)
        cols = min(d, block)
        self._blocks = [(slice(r, r + rows), slice(c, c + cols))
                        for r in range(0, k, rows) for c in range(0, d, cols)]
        self._block_steps = [rule.prepare({name: v if isinstance(v, float) else v[r]
                                           for name, v in rule_hp.items()})
                             for r, _ in self._blocks]
        self._threads = max(1, min(threads, len(self._blocks)))
        self._scratch = [(np.empty((rows, cols)), np.empty((rows, cols)), np.empty((rows, cols)))
                         for _ in range(self._threads)]
        if self._threads > 1:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="gradsweep-step")
        fixed = self._lr.fixed
        self._block_lr = None if fixed is None or not fixed.ndim else [fixed[r] for r, _ in self._blocks]

    @property
    def state(self) -> State:
        """The rule's state: its buffers (updated in place) and the update count."""
        if self._state.count != self._count:
            self._state = self._state._replace(count=self._count)
        return self._state

    def advance(self, grads: Array) -> None:
        """One update with gradient ``grads`` (K, D), in place."""
        self._count = t = self._count + 1
        if self._pre is not None:
            grads = self._pre(grads, self._state, self.params)
        lr = self._lr(t)
        if not self._blocks:
            self._step(grads, self._state, self.params, t, lr, self._tmp)
            return
        if self._pool is None:
            self._run_blocks(grads, t, lr, 0)
        else:
            for future in [self._pool.submit(self._run_blocks, grads, t, lr, i)
                           for i in range(self._threads)]:
                future.result()

    def run(self, gradient: Callable[[Array], Array], outs: Iterable[Array]) -> None:
        """``advance(gradient(out))`` for each of ``outs`` in turn: the runner's hot loop (the
        objective writes each step's loss into its ``out`` and returns the gradient), with no
        call in a step but those two (and the chain's, where it has any)."""
        fixed = self._lr.fixed
        if self._blocks or self._pre is not None or fixed is None:
            for out in outs:
                self.advance(gradient(out))
            return
        step, state, params, tmp = self._step, self._state, self.params, self._tmp
        t = self._count
        try:
            for out in outs:
                step(gradient(out), state, params, t + 1, fixed, tmp)
                t += 1
        finally:
            self._count = t

    def __call__(self, grads: Array) -> State:
        """One update with gradient ``grads`` (K, D); returns the new state."""
        self.advance(grads)
        return self.state

    def _run_blocks(self, grads: Array, t: int, lr: Array, worker: int) -> None:
        """Run the kernel over this worker's share of the blocks (a contiguous run of them)."""
        share = len(self._blocks) * worker // self._threads
        end = len(self._blocks) * (worker + 1) // self._threads
        tmp_a, tmp_b, tmp_c = self._scratch[worker]
        rule, state, params = self.rule, self._state, self.params
        block_lr = self._block_lr
        for i in range(share, end):
            rows, cols = self._blocks[i]
            sub_params = params[rows, cols]
            n_rows, n_cols = sub_params.shape
            sub_state = state._replace(**{b: getattr(state, b)[rows, cols] for b in rule.buffers})
            sub_lr = block_lr[i] if block_lr is not None else lr[rows] if lr.ndim else lr
            self._block_steps[i](grads[rows, cols], sub_state, sub_params, t, sub_lr,
                                 (tmp_a[:n_rows, :n_cols], tmp_b[:n_rows, :n_cols],
                                  tmp_c[:n_rows, :n_cols]))

    def close(self) -> None:
        """Stop the worker threads, if any."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DEFAULT_BLOCK", "Stepper"]
