"""The scenario file schema, as data.

One table of every key a scenario file may hold, with its type, default,
allowed values and an example. The loader checks files against it and
``docs/scenario-reference.md`` is tested against it, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from threatsim.inputs.distributions import DIST_KINDS

__all__ = ["KEYS", "PARAMETER_UNITS", "UNIT_MAXIMUM", "KeyDoc"]

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
#: The largest magnitude a value in each unit may take. They are far above any
#: planning figure and keep the arithmetic exact: a count of people above the
#: world's population (about 8.2 billion) is a typo, and counts summed over
#: regions, months and draws must stay well inside int64; a Poisson mean above
#: 1e9 a month is beyond what the samplers are exact for.
UNIT_MAXIMUM: dict[str, float] = {
    "usd": 1e15,  # about ten times the world's yearly product
    "usd_per_month": 1e15,
    "usd_per_person_per_month": 1e9,
    "people": 1e10,
    "people_per_month": 1e9,
    "share": 1.0,
    "share_per_month": 1.0,
    "per_person": 1e3,  # a thousand dependants per detained fighter is a typo
    "events_per_month": 1e6,
    "months": 1e4,  # over 800 years
    "days": 1e6,
    "per_day": 1e6,
}
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
    KeyDoc("run.draws", "integer", "10000", "1 to 2**40 - 1", "draws = 100000", "Number of Monte Carlo draws of the parameters."),
    KeyDoc("run.seed", "integer", "0", "0 to 2**63 - 1", "seed = 7", "Seed of every random stream of the run."),
    KeyDoc("run.sampler", "string", '"mc"', "mc, lhs, sobol", 'sampler = "lhs"', "Monte Carlo, Latin hypercube or scrambled Sobol (scipy.stats.qmc). Common random numbers across scenarios hold for mc and lhs."),
    KeyDoc("run.chunk_size", "integer", "8192", "1 to 2**40 - 1", "chunk_size = 8192", "Draws per chunk: the unit of work of a worker and of a checkpoint, and what a run holds of its trajectories at once when it keeps only the summary. No result depends on it (each draw has its own random streams)."),
    KeyDoc("run.replicates", "integer", "1", "1 to 2**24 - 1", "replicates = 10", "Inner replications of chance per draw (stochastic models): adds a `replicate` dim."),
    KeyDoc("run.workers", "integer", "1", "1 to 1024", "workers = 2", "Processes running chunks (1 = in-process); at most the CPUs this process may use, unless forced (`--force-workers`)."),
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
    # -- custody tables (issue 19; models with a nationality coord: fighters, coupled) ---
    *(KeyDoc(f"families.{field}", "table", "required in [families]",
             f"a parameter table but share_of; unit {unit} (the default)",
             f"[families.{field}]", doc)
      for field, unit, doc in (
          ("ratio_local", "per_person", "Dependants (women and children) arriving with each local fighter who is detained or surrenders: each brings Poisson(ratio) of them (see docs/models.md, Families). The report gives no ratio: a `source` or an `assumption`, sampled as `family_ratio_local`. `[families]` turns the camps on; any custody table keeps nationality through the courts."),
          ("ratio_foreign", "per_person", "The same for each foreign fighter detained or surrendered (`family_ratio_foreign`)."),
          ("children_share", "share", "Share of the arriving dependants who are children (a binomial split; also of the dependants held in north-east Syria at the start), `family_children_share`."),
          ("return_rate", "share_per_month", "Monthly probability that a local dependant leaves the camps to return to their community (`family_return_rate`); foreign dependants leave by `levers.dependant_repatriation_rate`."))),
    *(KeyDoc(f"courts.<region>.{field}", "table", f"the shared `{field}`",
             f"a region of the model; a parameter table but share_of; unit {unit} (the default)",
             f"[courts.syria.{field}]", doc)
      for field, unit, doc in (
          ("trial_rate", "share_per_month", "The region's own monthly trial probability (`trial_rate_<region>`), replacing the shared one there; the levers `prosecution_capacity_<region>`, `foreign_trials_<region>` and `transfer_rate_<region>` set the rest of its regime (0 capacity: pretrial detention only, para 56). A `[courts]` table, even empty, keeps nationality through the courts."),
          ("conviction_share", "share", "The region's own share of trials ending in prison (`conviction_share_<region>`)."))),
    KeyDoc("events.<name>.region", "string", "required", "a region of the model", 'region = "syria"', "Where the holding is: `[events.<name>]` is the fall of a holding (name: lower-case letters, digits, single underscores). In the month it falls, its strength of the region's active fighters (at most those there, after the month's other flows) surrender, flee or are killed, by one multinomial draw; the rest hold on."),
    KeyDoc("events.<name>.window", "array of 2 strings", "required", "[first, last], months within [start, start + horizon)", 'window = ["2019-02", "2019-06"]', "The months it may fall in: each draw's month is equally likely among them (`fall_<region>_<name>_month`, months from the start)."),
    KeyDoc("events.<name>.window_assumption", "string", "required", "a sentence", 'window_assumption = "..."', "Why this window (the provenance of the month)."),
    KeyDoc("events.<name>.flee_to", "string", "none: the fled stay in the region", "another region of the model", 'flee_to = "iraq"', "Where those who flee go on as active fighters (counted in `moved_out` and `arrived`); without it they flee into the desert and stay active in the region."),
    KeyDoc("events.<name>.note", "string", '""', "any text", 'note = "Hajin"', "What the event is."),
    *(KeyDoc(f"events.<name>.{field}", "table", "required",
             f"a parameter table but share_of; unit {unit} (the default)",
             f"[events.hajin.{field}]", doc)
      for field, unit, doc in (
          ("strength", "people", "Fighters in the holding (para 22 for Hajin: 'three thousand or more'), `fall_<region>_<name>_strength`."),
          ("foreign_share", "share", "Share of them who are foreign fighters (para 22: 'most of them Iraqis')."),
          ("surrender", "share", "Share who surrender: detained, with their families at the `[families]` ratios."),
          ("flee", "share", "Share who flee (to `flee_to`, or stay in the region)."),
          ("killed", "share", "Share killed. surrender + flee + killed must sum to at most 1 at their upper bounds."))),
    KeyDoc("shocks.<name>.kind", "string", "required", "collapse, surge, prison_break", 'kind = "prison_break"', "A stochastic jump that strikes each draw in a month with its `probability`: a collapse kills `size` (a share) of the region's active fighters, a surge brings Poisson(`size`) recruits (counted in `recruited`), a prison break sets `size` of the region's detained and imprisoned at large (`released`, keeping their nationality)."),
    KeyDoc("shocks.<name>.region", "string", "required", "a region of the model", 'region = "syria"', "Where it strikes."),
    KeyDoc("shocks.<name>.note", "string", '""', "any text", 'note = "camp breakout"', "What the shock is."),
    KeyDoc("shocks.<name>.probability", "table", "required", "a parameter table but share_of; unit share_per_month (the default)", "[shocks.camps.probability]", "Monthly probability that it strikes (`<kind>_<region>_<name>_probability`)."),
    KeyDoc("shocks.<name>.size", "table", "required", "a parameter table but share_of; unit share (collapse, prison_break) or people_per_month (surge), the default", "[shocks.camps.size]", "What it moves when it strikes (`<kind>_<region>_<name>_size`): a share binomially thinned, or a Poisson mean of recruits."),
    KeyDoc("detention.region", "string", "required with model fighters_detention", "a region of the model", 'region = "syria"', "The region whose newly detained fighters (arrests, surrenders, the surrendered of a fall) are the arrivals of the detention DES, month by month and by nationality (see docs/models.md, The fighters feed the detention DES). Only for model `fighters_detention`."),
    KeyDoc("detention.note", "string", '""', "any text", 'note = "north-east Syria"', "What the linked custody is."),
    KeyDoc("posterior", "string", "none: the ranges as written", "the path of a posterior file (threatsim calibrate --out), relative to the file that names it", 'posterior = "../results/post.nc"', "Runs (run, compare, sweep, score --scenarios) draw the sampled parameters from this posterior instead of their ranges, as `--posterior` does (docs/calibration.md); a what-if that extends this file inherits it. `calibrate` and `sensitivity` refuse a scenario with it. The run id combines the scenario's (without this key) with the posterior's content hash, so it does not depend on where the file lies."),
    KeyDoc("questions.id", "string", "required", "a name: a letter, then letters, digits, _ or -; unique", 'id = "reserves_low"', "A headline question: `[[questions]]` asks for the probability that an output, at a month, is below or above a level; `threatsim run` answers each first, in words on the ICD 203 scale with its Monte Carlo interval, and names the parameters most worth finding out (docs/analysis.md, Headline questions)."),
    KeyDoc("questions.text", "string", '""', "any text", 'text = "Will reserves fall below $50M by December 2020?"', "The question as a planner would ask it."),
    KeyDoc("questions.output", "string", "required", "an output over time of the model", 'output = "reserves"', "What the question is about."),
    KeyDoc("questions.at", "string", "required", "a month YYYY-MM of the run", 'at = "2020-12"', "The month (the state at its start, as the run's table reads it)."),
    KeyDoc("questions.below", "number", "none", "a finite number; exactly one of below and above", "below = 50_000_000", "The answer is yes in the draws where the output is strictly below this level (for whole people, at most 100 is `below = 100.5`)."),
    KeyDoc("questions.above", "number", "none", "a finite number; exactly one of below and above", "above = 2000", "Yes where the output is strictly above this level."),
    KeyDoc("questions.<dim>", "string", "required for each dim of the output besides time", "a label of the dim, or \"all\"", 'region = "syria"', "Which label of each of the output's other dims the question is about (`all` sums over them), as in an observation file."),
    KeyDoc("observe.<key>.variable", "string", "required", "an output over time of the model", 'variable = "population"', "What figures counting `<key>` (as `threatsim extract` reads what a figure counts, e.g. `foreign_terrorist_fighters`, or a source id) measure: `threatsim extract --as observations` proposes this output for them (docs/extract.md). Changes no number and is left out of the run id."),
    KeyDoc("observe.<key>.<dim>", "string or array of strings", "required for each dim of the output besides time", "a label of the dim, a list of labels (summed), or \"all\"", 'compartment = ["detained", "imprisoned"]', "Which labels of each of the output's other dims those figures count, as in an observation file."),
    KeyDoc("outputs.variables", "array of strings", "all outputs of the model", "output names of the model", 'variables = ["reserves"]', "Which outputs to keep in the Dataset."),
    KeyDoc("outputs.quantiles", "array of numbers", "[0.05, 0.25, 0.5, 0.75, 0.95]", "each in (0, 1)", "quantiles = [0.05, 0.5, 0.95]", "Quantiles of the bands the CLI prints and plots."),
    KeyDoc("outputs.report_months", "array of strings", "start, every 12 months, and the last month", "months within the horizon", 'report_months = ["2019-06", "2020-12"]', "Months shown in the printed table."),
    KeyDoc("outputs.keep", "string", '"draws"', "draws, summary", 'keep = "summary"', "What a run keeps: every trajectory, or only bands, P(= 0), per-draw outputs and parameters (memory grows only with those per-draw values, not with the trajectories; see docs/scaling.md)."),
)
