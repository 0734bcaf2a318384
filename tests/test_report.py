"""The HTML brief (issue 21, part 1): threatsim report and run --brief.

Every number the page shows is checked against a value computed here from the
run's Dataset (shares of draws, numpy quantiles, paired differences), every
parameter against the scenario's own provenance, and the page against what a
self-contained file may hold (no address to fetch, a title on every figure).
The real browser's view of the page is tests/test_report_browser.py.
"""

from __future__ import annotations

import contextlib
import html
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import SCENARIOS

import threatsim
from threatsim.cli.main import main
from threatsim.core.errors import ScenarioError
from threatsim.outputs.estimative import describe
from threatsim.outputs.report import brief, brief_from_run, parse_question, write_brief

FINANCING = SCENARIOS / "financing.toml"


class _Page(HTMLParser):
    """The elements of a page: tag, attrs and (for spans and headings) their text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[int, str] = {}
        self._open: list[int] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in ("span", "h1", "h2", "h3", "title"):
            self._open.append(len(self.elements) - 1)
            self.text[len(self.elements) - 1] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("span", "h1", "h2", "h3", "title") and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for i in self._open:
            self.text[i] += data

    def numbers(self, **match: str) -> list[tuple[float, str, dict[str, str | None]]]:
        """(data-value, shown text, attrs) of every number whose data-* attrs match."""
        out = []
        for i, (tag, attrs) in enumerate(self.elements):
            if tag == "span" and "data-value" in attrs and all(
                    attrs.get(f"data-{k}") == v for k, v in match.items()):
                out.append((float(attrs["data-value"] or "nan"), self.text.get(i, ""), attrs))
        return out

    def headings(self) -> list[str]:
        return [self.text[i].strip() for i, (tag, _) in enumerate(self.elements)
                if tag in ("h1", "h2", "h3")]


@pytest.fixture(scope="module")
def financing_brief():
    sc = threatsim.load_scenario(FINANCING)
    what = sc.with_values({"name": "seizure_doubled", "levers.seizure_effort": 2.0})
    return brief(sc, [what], questions=["reserves<50e6@2020-12", "reserves>2e8@2019-07"],
                 draws=600, seed=4)


def test_the_answers_come_first_and_equal_the_share_of_draws(financing_brief):
    b = financing_brief
    page = _Page(b.html())
    heads = page.headings()
    assert heads.index("Headline questions") < heads.index("Outlook") < heads.index(
        "What-ifs") < heads.index("Sources and assumptions")
    reserves = b.dataset["reserves"]
    for qid, month, below, level in (("q1", "2020-12", True, 50e6),
                                     ("q2", "2019-07", False, 2e8)):
        y = reserves.sel(time=np.datetime64(month, "M")).values
        share = float(np.mean(y < level if below else y > level))
        ((value, shown, _),) = page.numbers(question=qid)
        assert value == share
        assert shown.endswith(" %")
        assert float(shown[:-2]) / 100 == pytest.approx(share, abs=0.00501)  # rounded to a whole %
        words = describe(share, y.size).words.capitalize()
        assert f"<strong>{words}</strong>" in b.html()


def test_band_tables_hold_the_datasets_quantiles(financing_brief):
    b = financing_brief
    page = _Page(b.html())
    y = b.dataset["reserves"]
    found = page.numbers(series="reserves", month="2020-01", quantile="0.5")
    assert found, "no band of reserves in 2020-01"
    expected = float(np.quantile(y.sel(time=np.datetime64("2020-01", "M")).values, 0.5))
    value, shown, _ = found[0]
    assert value == pytest.approx(expected, rel=1e-12)
    assert shown == f"${expected / 1e6:,.1f}M"


def test_whatif_differences_and_p_better_are_paired_draw_by_draw(financing_brief):
    b = financing_brief
    cds = b.whatifs[0].comparison
    page = _Page(b.html())
    month = "2021-01"  # one of the last three report months, which the table shows
    t = np.datetime64(month, "M")
    diff = (cds["reserves"].sel(scenario="whatif", time=t)
            - cds["reserves"].sel(scenario="base", time=t)).values
    # the what-if table's difference cells carry kind="diff"
    ((d50, _, _),) = page.numbers(series="reserves", month=month, quantile="0.5", kind="diff")
    assert d50 == pytest.approx(float(np.quantile(diff, 0.5)), rel=1e-12)
    ((p_better, _, _),) = [n for n in page.numbers(kind="p_better")
                           if n[2].get("data-series") == "reserves"
                           and n[2].get("data-month") == month]
    assert p_better == float(np.mean(diff < 0))  # lower reserves is better (declared)
    assert "lower is better" in b.html()


def test_no_change_is_marked():
    sc = threatsim.load_scenario(FINANCING)
    same = sc.with_values({"name": "same", "description": "nothing changed"})
    b = brief(sc, [same], draws=200, seed=1)
    assert "no change in any draw" in b.html()
    assert "<td>clear</td>" not in b.html()


def test_every_parameter_is_in_the_sources_table_with_its_paragraph_or_assumption(
        financing_brief):
    b = financing_brief
    text = b.html()
    sc = b.scenario
    table = text[text.index('<table class="sources">'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr><th scope=\"row\"><code>([^<]+)</code></th>(.*?)</tr>", table)
    assert [name for name, _ in rows] == list(sc.parameters)
    for name, row in rows:
        p = sc.parameters[name]
        row = html.unescape(row)
        if p.source is not None:
            s = sc.sources[p.source]
            assert f"S/2019/103 para {s.paragraph}" in row, name
            assert s.quote in row, name
        else:
            assert p.assumption in row, name


def test_the_page_fetches_nothing_and_every_figure_has_a_title(financing_brief):
    text = financing_brief.html()
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!data:|#)""", text)
    assert "url(" not in text.replace("url(#", "")
    assert "<script" not in text
    svgs = re.findall(r"<svg\b[^>]*>", text)
    assert len(svgs) >= 3  # fan charts and the what-if's comparison
    for tag in svgs:
        assert 'role="img"' in tag
        assert "aria-labelledby=" in tag
    page = _Page(text)
    titles = [page.text[i] for i, (tag, _) in enumerate(page.elements) if tag == "title"]
    assert len(titles) == len(svgs) + 1  # one per figure, and the page's own
    assert all(t.strip() for t in titles)
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids)), "element ids repeat between figures"


def test_ipcc_scale_is_named_and_used():
    b = brief(FINANCING, questions=["reserves<50e6@2020-12"], draws=300, seed=2,
              scale="ipcc")
    text = b.html()
    assert "IPCC scale" in text
    share = b.answers[0].estimate.probability
    assert describe(share, 300, scale="ipcc").words.capitalize() in text


def test_parse_question_and_its_errors():
    assert parse_question("detained_foreign[region=all]>2000@2020-06", 3) == {
        "id": "q3", "output": "detained_foreign", "at": "2020-06", "above": 2000.0,
        "region": "all"}
    for bad in ("reserves", "reserves<lots@2020-12", "x[region]<1@2020-01"):
        with pytest.raises(ScenarioError, match="--question"):
            parse_question(bad)


def test_a_question_the_scenario_refuses_names_its_key():
    with pytest.raises(ScenarioError, match="questions"):
        brief(FINANCING, questions=["reserves<5@2031-01"], draws=10)


def test_skill_section_holds_the_leaderboards_scores():
    obs = SCENARIOS / "observations" / "synthetic.toml"
    b = brief(FINANCING, observations=obs, draws=300, seed=1)
    board = b.board
    assert board is not None
    page = _Page(b.html())
    assert "Forecast skill" in page.headings()
    for j, oid in enumerate(str(o) for o in board["observation"].values):
        ((value, _, _),) = page.numbers(observation=oid, score="crps")
        assert value == pytest.approx(float(board["crps"][j]), rel=1e-12)


def test_run_brief_writes_the_page_beside_the_netcdf(tmp_path, capsys):
    out = tmp_path / "fin.nc"
    page = tmp_path / "fin.html"
    assert main(["run", str(FINANCING), "--draws", "200", "--out", str(out), "--no-plot",
                 "--quiet", "--brief", str(page)]) == 0
    ds = threatsim.open_results(out)
    text = page.read_text(encoding="utf-8")
    assert f"run id <code>{ds.attrs['run_id']}</code>" in text
    assert "Outlook" in text


def test_report_command_writes_the_page_and_prints_the_answers(tmp_path, capsys):
    page = tmp_path / "brief.html"
    code = main(["report", str(FINANCING), "--draws", "200", "--quiet", "--out", str(page),
                 "--question", "reserves<50e6@2020-12"])
    out = capsys.readouterr().out
    assert code == 0
    assert page.exists()
    assert out.startswith("q1: reserves below 50,000,000 in 2020-12: ")
    assert f"wrote {page}" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "brief.pdf"], "must be an .html file"),
    (["--out", "b.html", "--question", "reserves=5"], "--question"),
    (["--out", "b.html", "--obs", "no/such.toml"], "no/such.toml"),
    ([str(SCENARIOS / "detention_iraq_syria.toml"), "--out", "b.html"], "draw by draw"),
    (["--out", "b.html", "--scale", "words"], "invalid choice"),
])
def test_bad_report_input_exits_2_and_writes_nothing(tmp_path, capsys, monkeypatch, args,
                                                     message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) if "--scale" in args else contextlib.nullcontext():
        code = main(["report", str(FINANCING), *args, "--draws", "20", "--quiet"])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert list(Path(tmp_path).iterdir()) == []


def test_run_brief_refuses_a_summary_run_before_running(tmp_path, capsys):
    code = main(["run", str(FINANCING), "--draws", "20", "--keep", "summary", "--quiet",
                 "--out", str(tmp_path / "x.nc"), "--brief", str(tmp_path / "x.html")])
    assert code == 2
    assert "--brief" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_write_brief_is_whole_or_absent(tmp_path, financing_brief):
    path = write_brief(financing_brief, tmp_path / "b.html")
    assert path.read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert [p.name for p in tmp_path.iterdir()] == ["b.html"]


def test_brief_from_a_summary_run_is_refused():
    sc = threatsim.load_scenario(FINANCING)
    ds = threatsim.run(sc, draws=50, keep="summary", progress=False)
    with pytest.raises(ScenarioError, match="every draw"):
        brief_from_run(sc, ds)


def test_a_posterior_drives_the_run_and_its_diagnostics_are_shown(tmp_path):
    """--posterior: the brief's run draws from it (its id in the page's header) and the
    calibration section shows the diagnostics of that file."""
    from threatsim.outputs.calibration import calibrate, calibration_report
    from threatsim.outputs.observations import observations_from_dict
    from threatsim.results import write_netcdf

    sc = threatsim.load_scenario(FINANCING)
    obs = observations_from_dict({"document": "test", "observation": [
        {"id": "r", "variable": "reserves", "date": "2019-07", "low": 1e8, "high": 2e8,
         "unit": "usd"}]})
    post = calibrate(sc, obs, draws=400, seed=1)
    path = write_netcdf(post, tmp_path / "post.nc")
    b = brief(sc, posterior=path, draws=200, seed=2)
    text = b.html()
    assert "Calibration" in _Page(text).headings()
    assert f"posterior {b.dataset.attrs['posterior_id']}" in text
    first = calibration_report(threatsim.open_results(path)).splitlines()[0]
    assert html.escape(first) in text
