"""Our token_set_ratio (empg_jax.envs.shop.fuzzy) against hand-computed values."""

import pytest

from empg_jax.envs.shop.fuzzy import normalize_colour, token_set_ratio


def test_token_set_ratio_hand_cases():
    # 2 * LCS / (|a| + |b|) on the sorted token strings; 100 when one token set contains the other.
    assert token_set_ratio("cotton", "egyptian cotton") == 100
    assert token_set_ratio("x-large", "xx-large") == pytest.approx(200 * 7 / 15)
    assert token_set_ratio("size 6", "size 7") == pytest.approx(200 * 5 / 12)
    assert token_set_ratio("pack of 2", "pack of 24") == pytest.approx(200 * 9 / 19)
    assert token_set_ratio("gluten free", "sugar free") == pytest.approx(200 * 8 / 28)
    assert normalize_colour("navy blue") == "blue"
    assert normalize_colour("x-large") == "x-large"
