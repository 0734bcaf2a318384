"""Sphinx configuration of threatsim's documentation site (``make docs``).

The user guide is the markdown of docs/ (and README.md as the front page), read by
MyST; the API reference is made from the docstrings (autodoc, napoleon for the
numpy-style sections); the tutorial (docs/tutorial.md) is a MyST-NB text notebook
executed at every build, so its outputs are those of the code as it is.
"""

from __future__ import annotations

from typing import Any

import threatsim

project = "threatsim"
author = "threatsim developers"
copyright = "2026, threatsim developers"
release = version = threatsim.__version__

extensions = [
    "myst_nb",  # MyST markdown and text notebooks (it brings myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
]

exclude_patterns = ["_build", "gallery", "jupyter_execute", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
root_doc = "index"

# -- MyST -------------------------------------------------------------------------
# Links to a heading (``analysis.md#headline-questions``) need the headings' anchors.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# -- The tutorial: executed at every build, an error in it fails the build ---------
nb_execution_mode = "force"
nb_execution_timeout = 120
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# -- API reference ----------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autosummary_generate = False
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# Every cross-reference to threatsim's own objects must resolve (-n). Other
# projects' objects (numpy, xarray, the standard library) cannot: their inventories
# would have to be downloaded (intersphinx), and the build runs offline.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!threatsim\b).*")]
# Names that signatures show but that are no part of the API, so have no entry: type
# variables (Sphinx shows a TypeVar's name where it stands), and private helpers.
nitpick_ignore = [
    ("py:class", "threatsim.core.compiled.Kernel"),  # TypeVar of the kernel decorators
    ("py:class", "threatsim.stats.variates_compiled.FloatOrArray"),  # TypeVar: float or array
    ("py:class", "threatsim.models.detention.simpy_des._FifoQueue"),  # private queue class
]

# -- HTML -------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"threatsim {release}"
html_static_path: list[str] = []
# Wider than alabaster's 940 px: the tables the tutorial prints are 150 columns wide.
html_theme_options = {"page_width": "1240px", "sidebar_width": "250px"}


def _public_name(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve ``threatsim.run`` (a name of ``threatsim.__all__``, as docstrings write it)
    to the object's entry in its own module (``threatsim.engine.runner.run``): the public
    names are documented once, where they are defined."""
    target = node.get("reftarget", "")
    name = target.removeprefix("threatsim.")
    if node.get("refdomain") != "py" or name == target or name not in threatsim.__all__:
        return None
    module = getattr(getattr(threatsim, name), "__module__", None)
    if not module:
        return None
    return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                              f"{module}.{name}", node, contnode)


def setup(app: Any) -> None:
    app.connect("missing-reference", _public_name)
