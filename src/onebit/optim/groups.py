"""Different optimizers for different parameters: binary weights to Bop, the rest to Adam.

Modeled on Larq's ``lq.optimizers.CaseOptimizer``: ``(predicate, optimizer)`` pairs plus a
``default`` optimizer for every parameter no predicate claims. A parameter may be claimed by at
most one case, and every case must claim at least one parameter.

:class:`CaseOptimizer` is a real :class:`torch.optim.Optimizer`: its ``param_groups`` are the
sub-optimizers' own group dicts, so learning-rate schedules (``LambdaLR`` ...) drive every
sub-optimizer, step hooks fire, and ``state_dict`` / ``load_state_dict`` cover all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

import torch
from torch import nn

from onebit._registry import OnebitError
from onebit.optim.bop import DEFAULT_GAMMA, DEFAULT_THRESHOLD, Bop

#: Builds an optimizer for the list of parameters a case claimed.
OptimizerFactory = Callable[[list[nn.Parameter]], torch.optim.Optimizer]
#: ``predicate(qualified_name, parameter) -> bool``, or the parameters themselves.
Selector = Callable[[str, nn.Parameter], bool] | Collection[torch.Tensor]
Case = tuple[Selector, torch.optim.Optimizer | OptimizerFactory]


class _DelegatingOptimizer(torch.optim.Optimizer):
    """An optimizer that owns no parameter groups: they and the state are its inner optimizers'.

    ``param_groups`` is computed on each access from the inner optimizers, so a scheduler's writes
    to ``group["lr"]`` reach them, also after ``load_state_dict`` replaced their group dicts.
    ``torch.optim.Optimizer.__init__`` still runs (with one empty group) for its step-hook and
    state-dict-hook machinery; ``step`` is wrapped with the hooks like any optimizer's.
    """

    def __init__(self, optimizers: list[torch.optim.Optimizer]) -> None:
        for i, optimizer in enumerate(optimizers):
            if not isinstance(optimizer, torch.optim.Optimizer):
                raise OnebitError(
                    f"optimizer {i} is a {type(optimizer).__name__}, not an Optimizer"
                )
        self._optimizers = list(optimizers)
        self._initialized = False
        super().__init__([{"params": []}], {})
        self._initialized = True

    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [group for optimizer in self._optimizers for group in optimizer.param_groups]

    @param_groups.setter
    def param_groups(self, value: list[dict[str, Any]]) -> None:
        # Optimizer.__init__ assigns an empty list; the groups belong to the inner optimizers.
        if value:
            raise AttributeError(f"{type(self).__name__}.param_groups are its optimizers' groups")

    @property
    def state(self) -> dict[torch.Tensor, Any]:  # type: ignore[override]
        """Every inner optimizer's per-parameter state, merged (their parameters are disjoint)."""
        merged: dict[torch.Tensor, Any] = {}
        for optimizer in self._optimizers:
            merged.update(optimizer.state)
        return merged

    @state.setter
    def state(self, value: Any) -> None:
        if value:
            raise AttributeError(f"{type(self).__name__}.state is its optimizers' state")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self._initialized:
            raise OnebitError(
                f"add parameter groups to one of {type(self).__name__}'s optimizers, not to it"
            )
        # Optimizer.__init__'s placeholder group: nothing to keep.

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self._optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def _step_inner(self, closure: Callable[[], Any] | None) -> Any:
        """Evaluate ``closure`` once (re-computing the gradients), then step every optimizer."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for optimizer in self._optimizers:
            optimizer.step()
        return loss

    def _own_state_dict(self) -> dict[str, Any]:
        """Entries for ``state_dict`` besides the inner optimizers' (for subclasses)."""
        return {}

    def _load_own_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`_own_state_dict` saved."""

    def state_dict(self) -> dict[str, Any]:
        """``{"optimizers": [each inner optimizer's state_dict], ...}``; runs the hooks."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        state = {
            "optimizers": [optimizer.state_dict() for optimizer in self._optimizers],
            **self._own_state_dict(),
        }
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, state)
            if result is not None:
                state = result
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore every inner optimizer from :meth:`state_dict`'s output, in the same order."""
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        saved = state_dict.get("optimizers") if isinstance(state_dict, dict) else None
        if not isinstance(saved, list) or len(saved) != len(self._optimizers):
            count = len(saved) if isinstance(saved, list) else "no"
            raise OnebitError(
                f"{type(self).__name__} has {len(self._optimizers)} optimizers but the state dict "
                f"holds {count}; was it saved by a differently built optimizer?"
            )
        for optimizer, optimizer_state in zip(self._optimizers, saved, strict=True):
            optimizer.load_state_dict(optimizer_state)
        self._load_own_state_dict(state_dict)
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    def __getstate__(self) -> dict[str, Any]:
        # Optimizer.__getstate__ keeps only defaults/state/param_groups, but those live in the
        # inner optimizers here. Keep every attribute except the hook tables and what a scheduler
        # patched onto this instance (its ``step`` wrapper holds a reference to the original).
        dropped = ("step", "_opt_called")
        return {
            k: v
            for k, v in self.__dict__.items()
            if not k.startswith("_optimizer_") and k not in dropped
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        super().__setstate__({})  # fresh hook tables, step wrapped


class CaseOptimizer(_DelegatingOptimizer):
    """Train each parameter with the optimizer of the one case that claims it (as Larq's).

    Example::

        CaseOptimizer(
            (lambda name, p: name.endswith("weight") and p.dim() > 1, lambda ps: Bop(ps)),
            default=lambda ps: torch.optim.Adam(ps, lr=1e-3),
            params=model,
        )

    Args:
        *cases: ``(selector, optimizer)`` pairs. ``selector`` is a predicate
            ``(qualified_name, parameter) -> bool`` or a collection of parameters; ``optimizer``
            is a factory called with the claimed parameters (in ``params`` order), or an optimizer
            already built on exactly the claimed parameters.
        default: optimizer (factory or instance) for every parameter no case claims; ``None``
            leaves those parameters untrained. A factory is skipped when nothing is left for it.
        params: the candidates: a module or ``(name, parameter)`` pairs; only parameters with
            ``requires_grad`` are considered. Needed for predicates and for factories; a selector
            given as a ``set`` needs it too, for a reproducible parameter order.

    Raises:
        OnebitError: a parameter claimed by two cases (or by a case and the default), a case that
            claims no parameter, an optimizer instance whose parameters differ from its claim.

    ``param_groups`` lists the cases' groups in order, then the default's. ``step(closure)``
    evaluates the closure once, then steps every optimizer.
    """

    def __init__(
        self,
        *cases: Case,
        default: torch.optim.Optimizer | OptimizerFactory | None,
        params: nn.Module | Iterable[tuple[str, torch.Tensor]] | None = None,
    ) -> None:
        if not cases:
            raise OnebitError("CaseOptimizer needs at least one (selector, optimizer) case")
        named = _named_candidates(params)
        optimizers: list[torch.optim.Optimizer] = []
        owner: dict[int, str] = {}  # id(param) -> which case claimed it, for error messages

        def claim(tensors: list[torch.Tensor], who: str) -> None:
            for p in tensors:
                if id(p) in owner:
                    name = _name_of(p, named)
                    raise OnebitError(
                        f"parameter {name} is claimed by both {owner[id(p)]} and {who}"
                    )
                owner[id(p)] = who

        for i, case in enumerate(cases):
            if not (isinstance(case, tuple) and len(case) == 2):
                raise OnebitError(f"case {i} must be a (selector, optimizer) pair, got {case!r}")
            selector, optimizer = case
            who = f"case {i}"
            claimed = _select(selector, named, who)
            if not claimed:
                raise OnebitError(f"{who} claims no parameter")
            claim(claimed, who)
            optimizers.append(_build(optimizer, claimed, who))

        self.default_optimizer: torch.optim.Optimizer | None = None
        if isinstance(default, torch.optim.Optimizer):
            claim(_parameters_of(default), "the default optimizer")
            self.default_optimizer = default
        elif default is not None:
            if named is None:
                raise OnebitError("a default optimizer factory needs params= (a model)")
            rest = [p for _, p in named if id(p) not in owner]
            if rest:
                self.default_optimizer = _build(default, rest, "the default optimizer")
        if self.default_optimizer is not None:
            optimizers.append(self.default_optimizer)
        self.case_optimizers = optimizers[: len(cases)]
        super().__init__(optimizers)

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The cases' optimizers in order, then the default (when there is one)."""
        return list(self._optimizers)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Step every optimizer on the parameters it was given; returns ``closure()`` if given."""
        return self._step_inner(closure)


def bop_with_adam(
    model: nn.Module,
    lr: float,
    weight_decay: float = 0.0,
    threshold: float = DEFAULT_THRESHOLD,
    gamma: float = DEFAULT_GAMMA,
) -> CaseOptimizer:
    """Bop for the binary weights, Adam for everything else (Helwegen et al. 2019, sec. 5).

    The binary weights are those the layers declare 1-bit (:func:`onebit.nn.binary_parameters`).

    Args:
        model: the network.
        lr: Adam's learning rate for the real-valued parameters (batch norm, scales, fp layers).
        weight_decay: Adam's (L2) weight decay; Bop has none.
        threshold: Bop's flip threshold τ.
        gamma: Bop's adaptivity rate γ (its group's ``lr``, so a schedule decays it too).

    ``param_groups[0]`` is Bop's (``lr`` = γ), ``param_groups[1]`` Adam's, when the model has
    real-valued parameters.
    """
    from onebit.nn import binary_parameters  # onebit.nn imports nothing from optim; keep it lazy

    binary = [p for _, p in binary_parameters(model) if p.requires_grad]
    if not binary:
        raise OnebitError(
            f"{type(model).__name__} declares no binary weights for Bop; use a plain optimizer"
        )
    return CaseOptimizer(
        (binary, lambda ps: Bop(ps, lr=gamma, threshold=threshold)),
        default=lambda ps: torch.optim.Adam(ps, lr=lr, weight_decay=weight_decay),
        params=model,
    )


def _named_candidates(
    params: nn.Module | Iterable[tuple[str, torch.Tensor]] | None,
) -> list[tuple[str, torch.Tensor]] | None:
    if params is None:
        return None
    pairs = params.named_parameters() if isinstance(params, nn.Module) else params
    named, seen = [], set()
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], torch.Tensor)):
            raise OnebitError(f"params= takes a module or (name, parameter) pairs, got {pair!r}")
        name, p = pair
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            named.append((name, p))
    return named


def _select(
    selector: Selector, named: list[tuple[str, torch.Tensor]] | None, who: str
) -> list[torch.Tensor]:
    if isinstance(selector, torch.Tensor):
        selector = [selector]
    if isinstance(selector, Collection) and not isinstance(selector, (str, bytes)):
        chosen = list(selector)
        for p in chosen:
            if not isinstance(p, torch.Tensor):
                raise OnebitError(f"{who}: a selector collection must hold tensors, got {p!r}")
        ids = {id(p) for p in chosen}
        if len(ids) != len(chosen):
            raise OnebitError(f"{who} lists a parameter twice")
        if named is not None:
            ordered = [p for _, p in named if id(p) in ids]
            if len(ordered) != len(chosen):
                raise OnebitError(f"{who} lists parameters that params= does not train")
            return ordered
        if isinstance(selector, (set, frozenset)):
            raise OnebitError(f"{who}: a set of parameters has no fixed order; pass params= too")
        return chosen
    if callable(selector):
        if named is None:
            raise OnebitError(f"{who}: a predicate needs params= (a model) to choose from")
        return [p for name, p in named if selector(name, p)]
    raise OnebitError(f"{who}: a selector is a predicate or a collection of parameters")


def _build(optimizer: Any, claimed: list[torch.Tensor], who: str) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        given = _parameters_of(optimizer)
        if {id(p) for p in given} != {id(p) for p in claimed}:
            raise OnebitError(
                f"{who}: the optimizer holds {len(given)} parameters but its selector claims "
                f"{len(claimed)} others; pass a factory (lambda params: ...) instead"
            )
        return optimizer
    if callable(optimizer):
        built = optimizer(claimed)
        if not isinstance(built, torch.optim.Optimizer):
            raise OnebitError(f"{who}: the factory returned a {type(built).__name__}")
        return built
    raise OnebitError(f"{who}: expected an optimizer or a factory, got {optimizer!r}")


def _parameters_of(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _name_of(p: torch.Tensor, named: list[tuple[str, torch.Tensor]] | None) -> str:
    for name, q in named or []:
        if q is p:
            return repr(name)
    return f"of shape {tuple(p.shape)}"
