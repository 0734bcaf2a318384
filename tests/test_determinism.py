"""The determinism contract's layout (docs/determinism.md): stream families, keys, flow ids.

The behaviour (chunk size, other draws, levers, executors, compiled kernels) is checked
for every model by tests/model_contract.py; here, the pieces it rests on.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from threatsim.engine import streams
from threatsim.models.detention.cases import DetentionFlow
from threatsim.models.fighters.declarations import REGIONS
from threatsim.models.fighters.draws import FIGHTER_FLOW_BASE, REGION_SLOTS, FighterFlow, flow_id
from threatsim.models.financing import FinancingFlow
from threatsim.models.financing_events import EventFlow
from threatsim.stats import variates
from threatsim.stats.variates import ChanceStreams, philox4x64


def test_every_stream_family_has_its_own_spawn_key_tag():
    """parameters, the retired chunk family, sobol and chance: four distinct first words, and
    the chance tag streams.py documents is the one variates.seed_key uses."""
    assert streams.CHANCE == variates._CHANCE_TAG
    tags = {streams._PARAMETER, streams._RETIRED_CHUNK, streams._SOBOL, streams.CHANCE}
    assert len(tags) == 4
    expected = np.random.SeedSequence(9, spawn_key=(streams.CHANCE,)).generate_state(
        1, np.uint64)[0]
    assert streams.seed_key(9) == expected


def test_chance_streams_key_rows_draw_major_with_replicates_adjacent():
    """Row r of a chunk with R replicates is (draw index[r // R], replicate r % R): the order
    in which run_chunk repeats the parameters."""
    chance = streams.chance_streams(3, np.array([7, 8, 2**40 - 1]), replicates=3)
    draws = chance.key1 & np.uint64(2**40 - 1)
    reps = chance.key1 >> np.uint64(40)
    assert draws.tolist() == [7, 7, 7, 8, 8, 8, 2**40 - 1, 2**40 - 1, 2**40 - 1]
    assert reps.tolist() == [0, 1, 2] * 3
    assert (chance.key0 == streams.seed_key(3)).all()


def test_a_draws_generator_reads_blocks_of_its_own_stream():
    """generator(i, flow, month, event) yields the Philox4x64-10 blocks 1, 2, ... of draw i's
    key at counter (k, event, flow, month), computed here by the reference function; it does
    not depend on the other draws of the set, nor on the set's order."""
    chance = ChanceStreams(21, [5, 900, 33], replicate=[0, 2, 1])
    words = chance.generator(1, flow=7, month=4, event=2).bit_generator.random_raw(12)
    blocks = [philox4x64((np.uint64(k), np.uint64(2), np.uint64(7), np.uint64(4)),
                         (chance.key0[1:2], chance.key1[1:2]))[:, 0] for k in (1, 2, 3)]
    np.testing.assert_array_equal(words, np.concatenate(blocks))
    alone = ChanceStreams(21, [900], replicate=[2]).generator(0, flow=7, month=4, event=2)
    assert alone.random() == chance.generator(1, flow=7, month=4, event=2).random()
    others = [chance.generator(1, flow=8, month=4, event=2), chance.generator(1, flow=7,
              month=5, event=2), chance.generator(1, flow=7, month=4, event=3),
              chance.generator(0, flow=7, month=4, event=2)]
    assert len({g.random() for g in others} | {alone.random()}) == 5


def test_the_coupled_models_flow_words_never_meet():
    """The coupled model draws the fighters' and the reserves' flows from one stream per draw:
    every (kind, region) of the fighters has its own word, above every FinancingFlow."""
    words = [flow_id(kind, r) for kind, r in itertools.product(FighterFlow, range(len(REGIONS)))]
    assert len(set(words)) == len(words)
    assert min(words) >= FIGHTER_FLOW_BASE > max(FinancingFlow)
    assert max(words) < FIGHTER_FLOW_BASE + (max(FighterFlow) + 1) * REGION_SLOTS
    with pytest.raises(ValueError, match="region index"):
        flow_id(FighterFlow.RECRUITMENT, REGION_SLOTS)


@pytest.mark.parametrize("flows", [FighterFlow, FinancingFlow, EventFlow, DetentionFlow])
def test_flow_ids_are_positive_and_distinct(flows):
    """An IntEnum per model: unique values (no alias: an alias would share one counter)."""
    values = [f.value for f in flows]
    assert len(set(values)) == len(values) == len(flows.__members__)
    assert min(values) >= 1
