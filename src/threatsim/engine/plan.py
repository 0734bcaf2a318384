"""A run's plan: its sampled parameters cut into chunk tasks, and running one chunk.

A run is a pure function of (resolved scenario, seed, draws, replicates,
package version). Each draw's chance comes from its own streams, keyed by the
run seed, the draw's global index and its replicate
(:func:`threatsim.engine.streams.chance_streams`), and results are placed by
index, so the Dataset depends neither on the chunk size, nor on who ran the
chunks, nor on the order they finished in.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from threatsim.core.heap import release_free_heap
from threatsim.core.version import __version__
from threatsim.core.wire import Bundle
from threatsim.engine.executors import local_cores, shares_memory
from threatsim.engine.options import RunOptions
from threatsim.engine.sampling import cap_shares, posterior_values, sample_parameters
from threatsim.engine.streams import chance_streams
from threatsim.inputs.scenario import Parameter, Scenario
from threatsim.models.registry import get_model

__all__ = ["LATE_PARAMETERS_BYTES", "ChunkTask", "ParameterRecipe", "Plan", "place_draws",
           "run_chunk", "sample_lean"]

#: Distributions whose values a task may make again where it runs (ParameterRecipe):
#: their inverse CDF is IEEE arithmetic that is exact on every machine (a product and a
#: sum, a search of cumulative weights, rounding), so a worker's values are the
#: client's bit for bit. Others (a lognormal's exp, scipy's beta and triangular
#: inverses) may differ by an ulp between machines or libraries: they travel.
REMADE_KINDS = frozenset({"uniform", "discrete", "point"})

#: A summary kept in this process whose remade parameters (:class:`ParameterRecipe`)
#: would hold more than this many bytes of values makes them late (``Plan.for_run``'s
#: *late_above*): each chunk makes its own where it runs, and the whole sample's values
#: are made once the passes are done (:meth:`Plan.complete_parameters`). The run then
#: holds at most the larger of its passes' working memory and the sample, not both: W1
#: at 10^7 draws holds 305 MiB of sampled values, and its first pass about 60 MiB of
#: bins and windows beside them. Below it (W1 at 10^6 draws: 31 MiB) the sample is
#: made once, up front: making each chunk's values again costs its time (~0.1 s for
#: 4 x 10^7 values).
LATE_PARAMETERS_BYTES = 128 << 20


@dataclass(frozen=True, slots=True)
class ParameterRecipe:
    """How the values of some of a run's parameters are made again where a chunk runs.

    A chunk task sent to another process carries, for the parameters *names*, not
    their values (W1 at 10^8 draw-months: 53 MB that a LocalCluster's client process
    pickled, sent to its own scheduler and sent again to a worker) but this recipe:
    the values of draws ``[lo, hi)`` are
    ``sample_parameters(parameters, hi - lo, seed=seed, first=lo)`` of those names,
    exactly those of the whole sample (:func:`~threatsim.engine.sampling.uniforms`
    skips each stream ahead). Only ``mc`` runs without a posterior have one, and only
    parameters of :data:`REMADE_KINDS` outside rank-correlated groups, whose caps
    (``share_of``) are remade too.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> recipe = ParameterRecipe.of(sc, RunOptions.build(sc, draws=10, seed=3))
    >>> whole = sample_parameters(sc.parameters, 10, seed=3)
    >>> part = recipe.values(4, 7)
    >>> sorted(set(sc.parameters) - recipe.names)  # lognormal90, triangular: they travel
    ['reserves_initial', 'upkeep_per_fighter']
    >>> all(np.array_equal(part[k], whole[k][4:7]) for k in recipe.names)
    True
    """

    parameters: dict[str, Parameter]
    names: frozenset[str]
    seed: int

    @classmethod
    def of(cls, scenario: Scenario, options: RunOptions) -> ParameterRecipe | None:
        """The recipe of a run's sample, or None where no parameter can be remade."""
        if options.sampler != "mc" or options.posterior is not None:
            return None
        ps = scenario.parameters
        # Constants travel as one value anyway (ChunkTask.__reduce__): not worth remaking.
        names = frozenset(k for k, p in ps.items() if _remakable(ps, k)
                          and (p.dist.kind != "point" or p.share_of is not None))
        if not names:
            return None
        # A share is remade with every parent that caps it (cap_shares, in the scenario's
        # order). Only what sampling reads goes in every task: no descriptions, sources.
        needed = {a for k in names for a in _capped_by(ps, k)}
        bare = {k: replace(p, description="", source=None, assumption=None,
                           range_assumption=None)
                for k, p in ps.items() if k in needed}
        return cls(bare, names, options.seed)

    def values(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        """The values of draws ``[lo, hi)`` of the parameters :attr:`names`."""
        made = sample_parameters(self.parameters, hi - lo, seed=self.seed, first=lo)
        return {k: made[k] for k in self.names}


def _capped_by(ps: Mapping[str, Parameter], name: str) -> list[str]:
    """Parameter *name* and every parent that caps it (``share_of``), nearest first."""
    chain = [name]
    while (parent := ps[chain[-1]].share_of) is not None:
        chain.append(parent)
    return chain


def _remakable(ps: Mapping[str, Parameter], name: str) -> bool:
    """Whether parameter *name* and every parent that caps it can be remade."""
    return all(ps[k].dist.kind in REMADE_KINDS and ps[k].correlated is None
               for k in _capped_by(ps, name))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkTask:
    """Everything one chunk needs; small and picklable.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> task = Plan.for_run(sc, RunOptions.build(sc, draws=4)).task(0)
    >>> index, outputs = run_chunk(task)
    >>> index, sorted(outputs) == sorted(sc.variables)
    (0, True)
    """

    index: int
    model: str
    params: dict[str, np.ndarray]
    levers: dict[str, np.ndarray]
    n_months: int
    seed: int
    replicates: int
    outputs: frozenset[str]
    #: In-process runs of a model that ``writes_into_buffers``: views of the run's
    #: result buffers, ``(*dims, chunk draws)``, that the model fills instead of
    #: returning new arrays (no copy of the trajectories). None otherwise.
    out: dict[str, np.ndarray] | None = None
    #: The global index of the chunk's first draw (:meth:`Plan.task` sets it): its rows'
    #: chance is that of draws ``first_draw, first_draw + 1, ...`` unless *chance_draws*
    #: says otherwise.
    first_draw: int = 0
    #: The draw index whose chance each row uses, when not its own (see
    #: :func:`~threatsim.engine.evaluate.evaluate`); None: ``first_draw`` on.
    chance_draws: np.ndarray | None = None
    #: How the parameters it names are made again where the task runs, when it is sent
    #: to another process (see :class:`ParameterRecipe`); None: every value travels.
    recipe: ParameterRecipe | None = None

    def draw_index(self) -> np.ndarray:
        """The draw index of each row's chance (before replicates are repeated)."""
        if self.chance_draws is not None:
            return self.chance_draws
        rows = len(next(iter(self.params.values()))) if self.params else 0
        return np.arange(self.first_draw, self.first_draw + rows, dtype=np.int64)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # A task sent to another process (a pool, a dask worker through the scheduler)
        # carries each parameter whose values are all the same (a ``point``: most of a
        # scenario's parameters) as one value: W2's 8,192-draw task is 0.5 MB instead
        # of 2 MB, and on a dask cluster the client process, which also runs the
        # scheduler, forwards every byte of it twice.
        # Its arrays travel packed, one buffer per dtype (a frame each on dask) instead
        # of one per parameter and lever (W2: 43 frames, each handled on its way by the
        # client, the scheduler and the worker).
        # Parameters its recipe names travel as their number of values: the worker
        # makes them again (ParameterRecipe), the same bits.
        fields = {f: getattr(self, f) for f in ChunkTask.__slots__}
        remade = self.recipe.names if self.recipe is not None else frozenset()
        fields["params"] = {k: _Remade(v.size) if k in remade else _pack_constant(v)
                            for k, v in self.params.items()}
        return _unpack_task, (Bundle(fields),)


def _pack_constant(values: np.ndarray) -> Any:
    """*values*, or ``_Constant`` when every element has the same bits (NaN and -0.0 too)."""
    size = values.dtype.itemsize
    if values.ndim != 1 or values.size < 2 or size not in (1, 2, 4, 8):
        return values
    if values.strides[0] != 0:  # not a broadcast of one value: compare the bits
        if values[:1].tobytes() != values[1:2].tobytes():
            # A sampled parameter almost always differs here: without this look the
            # whole comparison (and a copy of a column of the sample) cost a W1 cluster
            # client 0.09 s of its 0.8 s a run, at 10^8 draw-months.
            return values
        bits = np.ascontiguousarray(values).view(f"u{size}")
        if not (bits == bits[0]).all():
            return values
    return _Constant(values[:1].copy(), values.size)


@dataclass(frozen=True, slots=True)
class _Constant:
    """A parameter's chunk of equal values, shipped as one value and its length."""

    one: np.ndarray  # shape (1,), the value with its dtype and bits
    size: int

    def expand(self) -> np.ndarray:
        return np.repeat(self.one, self.size)  # contiguous and writable, as sent


@dataclass(frozen=True, slots=True)
class _Remade:
    """A parameter's chunk that its task's recipe makes again: only its length travels
    (or, made late, is kept: :data:`LATE_PARAMETERS_BYTES`)."""

    size: int

    def __len__(self) -> int:  # a chunk's rows, as its other parameters' (draw_index)
        return self.size


def _made_here(params: dict[str, Any], recipe: ParameterRecipe | None,
               first_draw: int) -> dict[str, Any]:
    """*params* with the values of each :class:`_Remade` one made by *recipe* (the draws
    from *first_draw* on: exactly the whole sample's), in the same order."""
    size = next((v.size for v in params.values() if isinstance(v, _Remade)), None)
    if size is None:
        return params
    assert recipe is not None, "a parameter to remake without a recipe"
    made = recipe.values(first_draw, first_draw + size)  # every parameter has its rows
    return {k: made[k] if isinstance(v, _Remade) else v for k, v in params.items()}


def _unpack_task(fields: dict[str, Any]) -> ChunkTask:
    params = {k: v.expand() if isinstance(v, _Constant) else v
              for k, v in fields["params"].items()}
    fields["params"] = _made_here(params, fields["recipe"], fields["first_draw"])
    return ChunkTask(**fields)



#: Draws per block when a chunk is transposed into a draw-last buffer: a block of
#: source rows and its destination columns stay in the CPU cache (measured best for
#: 61 to 2,562 cells per draw; much smaller blocks are pathologically slow).
_PLACE_BLOCK = 512


def place_draws(buffer: np.ndarray, chunk: np.ndarray, lo: int) -> None:
    """``buffer[..., lo:lo + m] = moveaxis(chunk, 0, -1)`` for a chunk ``(m, *cell)``, blocked.

    The plain assignment walks the chunk with a stride of a whole draw for each
    value it writes, missing the cache every time (about 14x slower for a
    (8192, 61, 7) chunk); a few hundred draws at a time are transposed in cache.

    >>> buffer = np.zeros((2, 5))
    >>> place_draws(buffer, np.arange(6.0).reshape(3, 2), 1)
    >>> buffer
    array([[0., 0., 2., 4., 0.],
           [0., 1., 3., 5., 0.]])
    """
    m = chunk.shape[0]
    cells = int(np.prod(chunk.shape[1:], dtype=np.int64))
    moved = np.moveaxis(chunk, 0, -1)
    if moved.flags.c_contiguous:  # recorded with the draws last: rows copy as they are
        buffer[..., lo:lo + m] = moved
        return
    if cells <= 1:
        buffer[..., lo:lo + m] = chunk.reshape(buffer[..., lo:lo + m].shape)
        return
    src = chunk.reshape(m, cells)
    dst = buffer.reshape(cells, buffer.shape[-1])  # a view: buffers are C-contiguous
    for s in range(0, m, _PLACE_BLOCK):
        e = min(m, s + _PLACE_BLOCK)
        dst[:, lo + s:lo + e] = src[s:e].T


def run_chunk(task: ChunkTask) -> tuple[int, dict[str, np.ndarray]]:
    """Run the model on one chunk (top-level, so process pools can pickle it): its
    index and its outputs, draws first (see :class:`ChunkTask` for an example).

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> index, outputs = run_chunk(Plan.for_run(sc, RunOptions.build(sc, draws=4)).task(0))
    >>> index, outputs["reserves"].shape  # (draws, months + 1)
    (0, (4, 37))
    """
    model = get_model(task.model)
    params = _made_here(task.params, task.recipe, task.first_draw)  # (made late: here)
    reps = task.replicates
    # Row by row the chance of (draw, replicate): never of the chunk it is cut into.
    chance = chance_streams(task.seed, task.draw_index(), reps)
    if reps > 1:  # draw-major: each draw's replicates sit next to each other
        params = {k: np.repeat(v, reps) for k, v in params.items()}
    out = model.simulate(params, task.levers, n_months=task.n_months, chance=chance,
                         outputs=task.outputs, out=task.out)
    if reps > 1:
        out = {k: v.reshape(v.shape[0] // reps, reps, *v.shape[1:]) for k, v in out.items()}
    return task.index, out


#: Fewer values than this in all (draws x parameters) are sampled on one thread: a
#: thread costs more than the little it would take over.
_THREADED_SAMPLING_MIN = 1 << 20


def sample_lean(scenario: Scenario, options: RunOptions, *,
                constants_as_views: bool = False, workers: int = 1,
                only: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """``sample_parameters`` of the scenario, one parameter at a time (same values).

    With ``mc`` and ``lhs`` each parameter's uniforms come from its own stream,
    so sampling a parameter alone (with the parents it is capped by, in the
    same order) gives exactly its values in the joint call, while holding the
    uniforms of one parameter at a time instead of all. ``sobol`` is a joint
    design and is sampled whole. With *constants_as_views*, a ``point``
    parameter becomes a read-only broadcast of its value (no memory per draw).
    *workers* threads sample the parameters (numpy's generators and ufuncs release
    the GIL); each parameter's values are the same whichever thread makes them.
    *only*: just these parameters (each with the parents that cap it, as always), in
    the scenario's order: the same values as in the whole sample.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> opts = RunOptions.build(sc, draws=5, seed=1)
    >>> lean = sample_lean(sc, opts, constants_as_views=True, workers=2)
    >>> joint = sample_parameters(sc.parameters, 5, seed=1, sampler="mc")
    >>> all(np.array_equal(lean[k], joint[k]) for k in joint)
    True
    """
    parameters, n = scenario.parameters, options.draws
    seed, sampler = options.seed, options.sampler
    names = list(parameters) if only is None else [k for k in parameters if k in only]
    if sampler == "sobol":  # a joint design: sampled whole
        design = sample_parameters(parameters, n, seed=seed, sampler=sampler)
        return {name: design[name] for name in names}
    # Units of sampling: a parameter, or a correlated group (rearranged as a whole, so
    # sampled once with every member), each with the parents that cap it.
    units: list[tuple[list[str], dict[str, Parameter]]] = []
    constants: dict[str, Parameter] = {}
    taken: set[str] = set()
    for name in names:
        if name in taken:  # a member of a correlated group sampled with an earlier one
            continue
        p = parameters[name]
        if constants_as_views and p.dist.kind == "point" and p.share_of is None:
            constants[name] = p
            continue
        group = list(p.correlated.names) if p.correlated is not None else [name]
        taken.update(group)
        need = set(group)
        for member in group:
            cur = parameters[member]
            while cur.share_of is not None and cur.share_of not in need:
                need.add(cur.share_of)
                cur = parameters[cur.share_of]
        units.append((group, {k: parameters[k] for k in parameters if k in need}))

    def sample(unit: tuple[list[str], dict[str, Parameter]]) -> dict[str, np.ndarray]:
        group, subset = unit
        values = sample_parameters(subset, n, seed=seed, sampler=sampler)
        return {member: values[member] for member in group}

    out: dict[str, np.ndarray] = {}
    for name, p in constants.items():
        one = sample_parameters({name: p}, 1, seed=seed, sampler=sampler)[name]
        out[name] = np.broadcast_to(one, (n,))
    threads = min(max(1, int(workers)), len(units))
    if threads > 1 and n * len(units) >= _THREADED_SAMPLING_MIN:
        with ThreadPoolExecutor(threads, thread_name_prefix="threatsim-sample") as pool:
            for values in pool.map(sample, units):
                out.update(values)
    else:
        for unit in units:
            out.update(sample(unit))
    return {name: out[name] for name in names}


class Plan:
    """A run's inputs: options, parameter values (one array per parameter, over the
    draws), levers, and the chunk tasks they are cut into.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> plan = Plan.for_run(sc, RunOptions.build(sc, draws=250, chunk_size=100))
    >>> plan.n_chunks, plan.bounds(2)
    (3, (200, 250))
    >>> task = plan.task(2)
    >>> task.index, len(next(iter(task.params.values())))
    (2, 50)
    """

    def __init__(self, scenario: Scenario, options: RunOptions, params: dict[str, np.ndarray],
                 *, draws: int | None = None, outputs: frozenset[str] | None = None,
                 chance_draws: np.ndarray | None = None,
                 recipe: ParameterRecipe | None = None,
                 late: frozenset[str] = frozenset()) -> None:
        self.scenario, self.options = scenario, options
        #: How *params* (some of them) are made again where a chunk runs: only when they
        #: are exactly that sample's (Plan.for_run), never for values given otherwise.
        self.recipe = recipe
        #: The draw index whose chance each draw uses (None: its own index).
        self.chance_draws = chance_draws
        #: Parameters of the recipe not in *params* yet: each task makes its chunk's
        #: values where it runs, and :meth:`complete_parameters` the whole sample's.
        self.late = late
        if late and (recipe is None or not late <= recipe.names):
            raise ValueError(f"parameters made late need a recipe that makes them: {sorted(late)}")
        self.params = params
        self.levers = scenario.lever_schedule()
        self.outputs = frozenset(scenario.variables) if outputs is None else outputs
        self.n = options.draws if draws is None else draws
        self.cs = options.chunk_size
        self.n_chunks = -(-self.n // self.cs)

    @classmethod
    def for_run(cls, scenario: Scenario, options: RunOptions, *, lean: bool = False,
                late_above: int | None = None) -> Plan:
        """The plan of a run: its parameters sampled (see :func:`sample_lean`; *lean*:
        point values as broadcasts). With ``options.posterior``, the sampled
        parameters' draws are its resample (:func:`posterior_values`), the fixed
        values the scenario's; the chance of each draw is unchanged.

        *late_above*: where the values its :class:`ParameterRecipe` can make would take
        more than this many bytes, those are made late (:data:`LATE_PARAMETERS_BYTES`):
        not sampled here, but by each chunk where it runs and, whole, by
        :meth:`complete_parameters`. Only for chunks run in this process (a task sent
        elsewhere would carry them made).

        >>> import threatsim
        >>> sc = threatsim.load_scenario("scenarios/financing.toml")
        >>> opts = RunOptions.build(sc, draws=100, chunk_size=40)
        >>> plan = Plan.for_run(sc, opts, late_above=0)
        >>> plan.late == plan.recipe.names, "seizure_rate" in plan.params  # a uniform: late
        (True, False)
        >>> _, late = run_chunk(plan.task(1))
        >>> plan.complete_parameters(); plan.late
        frozenset()
        >>> whole = Plan.for_run(sc, opts)
        >>> all(np.array_equal(plan.params[k], whole.params[k]) for k in whole.params)
        True
        >>> bool((late["reserves"] == run_chunk(whole.task(1))[1]["reserves"]).all())
        True
        """
        recipe = ParameterRecipe.of(scenario, options)
        late: frozenset[str] = frozenset()
        # (no recipe with a posterior: its resample is not made in parts)
        if (late_above is not None and recipe is not None
                and options.draws * 8 * len(recipe.names) > late_above):
            late = recipe.names
        params = sample_lean(scenario, options, constants_as_views=lean,
                             workers=local_cores(options.executor),
                             only=[k for k in scenario.parameters if k not in late])
        post = options.posterior
        if post is not None:
            post.check(scenario)
            params.update(posterior_values(post, options.draws, seed=options.seed))
            capped = [k for k, p in scenario.parameters.items() if p.share_of is not None]
            if capped:  # a what-if's fixed parent caps the posterior's share, as sampling does
                params = {k: np.array(v) for k, v in params.items()}
                cap_shares(scenario.parameters, params)
        return cls(scenario, options, params, recipe=recipe, late=late)

    def complete_parameters(self) -> None:
        """Make the whole sample's values of the parameters made late (:attr:`late`), once
        the chunks are done with: :attr:`params` then holds every parameter, in the
        scenario's order, exactly as if sampled up front. Nothing to do otherwise."""
        if not self.late:
            return
        # The passes' bins and windows are freed: their pages go back to the system
        # before the sample is made, or they and the sample would add up after all.
        release_free_heap()
        made = sample_lean(self.scenario, self.options, constants_as_views=True,
                           workers=local_cores(self.options.executor), only=self.late)
        self.params = {k: made[k] if k in self.late else self.params[k]
                       for k in self.scenario.parameters}
        self.late = frozenset()

    def bounds(self, index: int) -> tuple[int, int]:
        """The draws ``[lo, hi)`` of chunk *index*."""
        return index * self.cs, min(self.n, (index + 1) * self.cs)

    def draws_in(self, index: int) -> int:
        """How many draws chunk *index* holds (what a progress bar advances by).

        >>> import threatsim
        >>> sc = threatsim.load_scenario("scenarios/financing.toml")
        >>> plan = Plan.for_run(sc, RunOptions.build(sc, draws=250, chunk_size=100))
        >>> [plan.draws_in(i) for i in range(plan.n_chunks)]
        [100, 100, 50]
        """
        lo, hi = self.bounds(index)
        return hi - lo

    def task(self, index: int, buffers: dict[str, np.ndarray] | None = None) -> ChunkTask:
        """Chunk *index*'s task (*buffers*: the run's result buffers, draws last, that the
        model fills in place)."""
        lo, hi = self.bounds(index)
        return self.task_of(index, lo, hi, buffers)

    def task_of(self, index: int, lo: int, hi: int,
                buffers: dict[str, np.ndarray] | None = None) -> ChunkTask:
        """The task of draws ``[lo, hi)``, numbered *index*, whatever the chunk size: the
        same values as in any chunk (a draw's chance and parameters do not depend on the
        chunk it is in, docs/determinism.md), so a run in this process may cut its chunk
        finer for a progress bar that moves as draws finish.

        >>> import threatsim
        >>> sc = threatsim.load_scenario("scenarios/financing.toml")
        >>> plan = Plan.for_run(sc, RunOptions.build(sc, draws=250))
        >>> _, part = run_chunk(plan.task_of(1, 100, 150))
        >>> _, whole = run_chunk(plan.task(0))
        >>> bool((part["reserves"] == whole["reserves"][100:150]).all())
        True
        """
        opts = self.options
        out = {k: v[..., lo:hi] for k, v in buffers.items()} if buffers is not None else None
        chance = self.chance_draws[lo:hi] if self.chance_draws is not None else None
        return ChunkTask(index=index, first_draw=lo, model=self.scenario.model,
                         params=self._chunk_params(lo, hi),
                         levers=self.levers, n_months=self.scenario.horizon, seed=opts.seed,
                         replicates=opts.replicates, outputs=self.outputs, out=out,
                         chance_draws=chance, recipe=self.recipe)

    def _chunk_params(self, lo: int, hi: int) -> dict[str, Any]:
        if not self.late:
            return {k: v[lo:hi] for k, v in self.params.items()}
        # in the scenario's order, as sampled: a late one is made where the task runs
        return {k: _Remade(hi - lo) if k in self.late else self.params[k][lo:hi]
                for k in self.scenario.parameters}

    def direct_buffers(self) -> dict[str, np.ndarray] | None:
        """Result buffers the model fills in place, when it can and chunks run here.

        Only in this process's memory (a worker process or cluster has its own)
        and without replicates (their outputs are reshaped after the model).
        """
        model = get_model(self.scenario.model)
        if (not model.writes_into_buffers or not shares_memory(self.options.executor)
                or self.options.replicates != 1):
            return None
        info = model.info
        sizes = {"time": self.scenario.horizon + 1,
                 **{dim: len(labels) for dim, labels in info.coords.items()}}
        decls = {o.name: o for o in info.outputs}
        return {name: np.empty((*(sizes[d] for d in decls[name].dims), self.n),
                               dtype=decls[name].dtype)
                for name in sorted(self.outputs)}

    def manifest(self) -> dict[str, Any]:
        """What a checkpoint of this run records: the run's identity."""
        opts, sc = self.options, self.scenario
        post = opts.posterior
        run_id = sc.run_id if post is None else post.run_id(sc.run_id)
        extra = {} if post is None else {"posterior_id": post.id,
                                         "posterior_file": post.path}
        return {"run_id": run_id, "scenario_name": sc.name, "model": sc.model,
                "seed": opts.seed, "draws": opts.draws, "chunk_size": opts.chunk_size,
                "sampler": opts.sampler, "replicates": opts.replicates,
                "variables": sorted(sc.variables), "threatsim_version": __version__,
                # not part of the identity (run_id is its hash): there to name what
                # changed when a resume is refused
                "scenario": json.loads(sc.resolved_json), **extra}
