"""The scenario file schema, as data.

One table of every key a scenario file may hold, with its type, default,
allowed values and an example. The loader checks files against it and
``docs/scenario-reference.md`` is tested against it, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from threatsim.inputs.distributions import DIST_KINDS

__all__ = ["KEYS", "PARAMETER_UNITS", "KeyDoc"]

#: Units a parameter may carry. Every one of them is non-negative; ``people``
#: (and other counts) are whole numbers.
PARAMETER_UNITS: dict[str, str] = {
    "usd": "US dollars (a stock)",
    "usd_per_month": "US dollars per month (a flow)",
    "usd_per_person_per_month": "US dollars per person per month",
    "people": "a count of people (whole numbers)",
    "people_per_month": "people per month (a Poisson mean or a rate of arrivals)",
    "share": "a fraction in [0, 1]",
    "per_person": "people per person (a ratio, e.g. dependants per detained fighter)",
    "share_per_month": "a monthly probability or fraction in [0, 1]",
    "events_per_month": "expected events per month (a Poisson rate)",
    "months": "a duration in months",
    "days": "a duration in days",
    "per_day": "events per day",
}
INTEGER_UNITS = ("people",)
SHARE_UNITS = ("share", "share_per_month")
SOURCE_UNIT_FOR = {"usd": "usd", "people": "people"}


@dataclass(frozen=True, slots=True)
class KeyDoc:
    """One scenario key: where it lives, its type, default and what is allowed.

    >>> next(k for k in KEYS if k.key == "run.draws").type
    'integer'
    """

    key: str
    type: str
    default: str
    allowed: str
    example: str
    doc: str


_UNITS = ", ".join(PARAMETER_UNITS)
KEYS: tuple[KeyDoc, ...] = (
    KeyDoc("name", "string", "required", "any text", 'name = "baseline"', "Short name of the scenario: a label, never a path. Output files made without `--out` take a stem derived from it (letters, digits, `.`, `_`, `-`; other characters become `_`), inside `results/` or the `--plot` folder."),
    KeyDoc("description", "string", '""', "any text", 'description = "..."', "What the scenario assumes."),
    KeyDoc("extends", "string", "none", "a path relative to this file", 'extends = "../baseline.toml"',
           "Inherit another scenario and override only the keys named here (tables merge key by key, to any depth; other values and arrays replace). Cycles are refused."),
    KeyDoc("model", "string", "required", "a registered model (`threatsim models` lists them)", 'model = "financing"', "Which model runs the scenario; `threatsim models` shows its parameters, levers and outputs."),
    KeyDoc("start", "string", "required", "a month 'YYYY-MM'", 'start = "2019-01"', "First month of the run (time index 0)."),
    KeyDoc("horizon", "integer", "required", "1 to 600", "horizon = 36", "Number of months simulated; the time axis has horizon + 1 month-start dates."),
    KeyDoc("time_step", "string", '"month"', "month", 'time_step = "month"', "The time step (only months for now)."),
    KeyDoc("sources", "array of strings", "the nearest `sources/` folder above the file", "paths relative to this file",
           'sources = ["sources/S-2019-103.toml"]', "Source registry files (or folders) that `source` ids refer to."),
    KeyDoc("run.draws", "integer", "10000", ">= 1", "draws = 100000", "Number of Monte Carlo draws of the parameters."),
    KeyDoc("run.seed", "integer", "0", ">= 0", "seed = 7", "Seed of every random stream of the run."),
    KeyDoc("run.sampler", "string", '"mc"', "mc, lhs, sobol", 'sampler = "lhs"', "Monte Carlo, Latin hypercube or scrambled Sobol (scipy.stats.qmc). Common random numbers across scenarios hold for mc and lhs."),
    KeyDoc("run.chunk_size", "integer", "65536", ">= 1", "chunk_size = 65536", "Draws per chunk; results depend on it (it keys the model's random streams), never on the number of workers."),
    KeyDoc("run.replicates", "integer", "1", ">= 1", "replicates = 10", "Inner replications of chance per draw (stochastic models): adds a `replicate` dim."),
    KeyDoc("run.workers", "integer", "1", ">= 1", "workers = 2", "Processes running chunks (1 = in-process)."),
    KeyDoc("parameters.<name>.dist", "string", "required", ", ".join(DIST_KINDS), 'dist = "lognormal90"', "How the range is read (see distributions)."),
    KeyDoc("parameters.<name>.range", "array of 2 numbers", "the source's range", "[low, high] with low <= high, inside the unit's support", "range = [50e6, 300e6]", "The range; with a two-sided source it defaults to the reported range."),
    KeyDoc("parameters.<name>.value", "number", "the source's point", "inside the unit's support", "value = 2000", "The value of a `point` or the mean of a `poisson`."),
    KeyDoc("parameters.<name>.mode", "number", "none", "within the range", "mode = 16000", "Most likely value (triangular, pert)."),
    KeyDoc("parameters.<name>.values", "array of numbers", "none", "inside the unit's support", "values = [1, 2, 3]", "Support of a `discrete` parameter."),
    KeyDoc("parameters.<name>.weights", "array of numbers", "equal weights", ">= 0, one per value", "weights = [0.2, 0.5, 0.3]", "Weights of a `discrete` parameter."),
    KeyDoc("parameters.<name>.unit", "string", "required", _UNITS, 'unit = "usd"', "Unit; must be the unit the model declares for the parameter."),
    KeyDoc("parameters.<name>.source", "string", "none", "an id of the source registry", 'source = "reserves_usd"', "The reported figure this parameter comes from. Exactly one of `source` and `assumption`."),
    KeyDoc("parameters.<name>.assumption", "string", "none", "a sentence", 'assumption = "..."', "Why this range, when no report gives it. Exactly one of `source` and `assumption`."),
    KeyDoc("parameters.<name>.range_assumption", "string", "none", "a sentence", 'range_assumption = "..."', "Required when a sourced parameter's range is not the reported one: a one-sided figure ('up to', 'more than') needs its second bound stated, a point figure read as a range needs its width explained."),
    KeyDoc("parameters.<name>.share_of", "string", "none", "another parameter of the same unit", 'share_of = "fighters"', "A nested quantity: its sample is capped at the parent's sample, so it can never exceed it."),
    KeyDoc("parameters.<name>.description", "string", '""', "any text", 'description = "..."', "What the parameter means here."),
    KeyDoc("levers.<name>", "number", "the model's default", "the lever's bounds (see the model)", "seizure_effort = 2.0", "A policy setting (not sampled)."),
    KeyDoc("timeline", "array of tables", "[]", "entries sorted by `at`", '[[timeline]]', "Lever changes from a month on."),
    KeyDoc("timeline.at", "string", "required", "a month within [start, start + horizon)", 'at = "2020-01"', "From which month the new lever values apply."),
    KeyDoc("timeline.levers", "table", "required", "lever names of the model", "levers = { seizure_effort = 2.0 }", "New lever values from `at` on."),
    KeyDoc("timeline.note", "string", '""', "any text", 'note = "asset freeze"', "Why the change happens."),
    KeyDoc("origins.<region>.<origin>", "table", "none: every returnee is `unspecified`",
           "a region and an origin group of the model (`threatsim models`), not `unspecified`; the keys of a parameter table but share_of; unit share (the default); one region's shares sum to at most 1 at their upper bounds",
           "[origins.syria.western_balkans]",
           "Share of the region's foreign fighters, and so of its returnees, from the origin group: a `source` or an `assumption`, sampled like a parameter (`origin_share_<region>_<origin>` in the Dataset). The rest of each region is `unspecified`. Models with an `origin` coord only (fighters, coupled)."),
    KeyDoc("correlations", "array of tables", "[]: every parameter independent",
           "pairs of sampled parameters whose matrix is positive semi-definite", "[[correlations]]",
           "Rank (Spearman) correlations between sampled parameters, imposed by Iman-Conover on the uniform scores, so marginals, `share_of` caps and every sampler keep working (see Correlations). Pairs not listed are independent. In a file that extends another, an entry for a pair the parent gives replaces the parent's entry; others are added."),
    KeyDoc("correlations.between", "array of 2 strings", "required", "two different sampled parameters (not `point`)",
           'between = ["reserves_initial", "extortion_income"]', "The two parameters (in either order; each pair once)."),
    KeyDoc("correlations.rho", "number", "required", "-1 to 1", "rho = 0.5", "The Spearman rank correlation their draws should have (0 makes them independent, e.g. to drop a parent's pair)."),
    KeyDoc("correlations.source", "string", "none", "an id of the source registry", 'source = "reserves_usd"', "The report this correlation comes from. Exactly one of `source` and `assumption`."),
    KeyDoc("correlations.assumption", "string", "none", "a sentence", 'assumption = "..."', "Why these parameters move together, when no report says. Exactly one of `source` and `assumption`."),
    KeyDoc("correlations.description", "string", '""', "any text", 'description = "..."', "What the correlation means here."),
    KeyDoc("outputs.variables", "array of strings", "all outputs of the model", "output names of the model", 'variables = ["reserves"]', "Which outputs to keep in the Dataset."),
    KeyDoc("outputs.quantiles", "array of numbers", "[0.05, 0.25, 0.5, 0.75, 0.95]", "each in (0, 1)", "quantiles = [0.05, 0.5, 0.95]", "Quantiles of the bands the CLI prints and plots."),
    KeyDoc("outputs.report_months", "array of strings", "start, every 12 months, and the last month", "months within the horizon", 'report_months = ["2019-06", "2020-12"]', "Months shown in the printed table."),
    KeyDoc("outputs.keep", "string", '"draws"', "draws, summary", 'keep = "summary"', "What a run keeps: every trajectory, or only bands, P(= 0), per-draw outputs and parameters (memory grows only with those per-draw values, not with the trajectories; see docs/scaling.md)."),
)
