"""EMPG step advantages."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from empg_jax.losses import empg_advantages, empg_token_advantages
from empg_jax.testing import run_variants

# Three trajectories with 1, 2 and 4 steps (A: 1 step, B: 2, C: 4), rows interleaved, plus one
# padded row (index 4) whose huge entropy and advantage must not move min, max or the means.
#           row:   0: C0  1: B0  2: A0  3: C1  4: pad  5: B1  6: C2  7: C3
ENTROPY = np.array([2.0, 1.0, 0.5, 1.5, 100.0, 0.0, 0.25, 1.0], np.float32)
TRAJ_ADV = np.array([0.25, -0.5, 1.0, 0.25, 5.0, -0.5, 0.25, 0.25], np.float32)
NEXT_STEP = np.array([3, 5, -1, 6, 2, -1, 7, -1], np.int32)
VALID = np.array([1, 1, 1, 1, 0, 1, 1, 1], bool)

# By hand: min 0 and max 2 over valid rows, so H~ = H / 2; m = mean_valid exp(-H~) = 0.6335914;
# g = exp(-H~) / m; f(next) = exp(-H~[next]); A = g A_traj + 0.1 f; A -= mean_valid(A).
WANT_NORM_ENTROPY = np.array([1.0, 0.5, 0.25, 0.75, 0.0, 0.0, 0.125, 0.5])
WANT_G = np.array(
    [0.54620823, 0.90054513, 1.15632283, 0.70134525, 0.0, 1.4847479, 1.31028543, 0.90054513]
)
WANT_F = np.array([0.47236655, 1.0, 0.0, 0.8824969, 0.0, 0.0, 0.60653066, 0.0])
WANT_ADV = np.array(
    [0.02315847, -0.51090281, 0.99569258, 0.10295575, 0.0, -0.9030042, 0.22759417, 0.06450603]
)


def reference_empg(
    entropy,
    traj_adv,
    next_step,
    valid,
    k=1.0,
    k_future=1.0,
    zeta=0.1,
    use_scaling=True,
    use_bonus=True,
    zero_mean=True,
    eps=1e-8,
):
    """A loop-per-step NumPy transcription of the paper pseudo-code with padded rows masked out."""
    entropy = np.asarray(entropy, np.float64)
    rows = [s for s in range(len(entropy)) if valid[s]]
    out = np.zeros(len(entropy))
    if not rows:
        return out
    low, high = min(entropy[s] for s in rows), max(entropy[s] for s in rows)
    norm = {s: (entropy[s] - low) / (high - low + eps) for s in rows}
    mean_scale = sum(np.exp(-k * norm[s]) for s in rows) / len(rows)
    for s in rows:
        g = np.exp(-k * norm[s]) / (mean_scale + eps) if use_scaling else 1.0
        value = g * traj_adv[s]
        nxt = next_step[s]
        if use_bonus and nxt >= 0 and valid[nxt]:
            value += zeta * np.exp(-k_future * norm[nxt])
        out[s] = value
    if zero_mean:
        mean = sum(out[s] for s in rows) / len(rows)
        for s in rows:
            out[s] -= mean
    return out


def test_reference_reproduces_the_hand_computed_numbers():
    np.testing.assert_allclose(
        reference_empg(ENTROPY, TRAJ_ADV, NEXT_STEP, VALID), WANT_ADV, atol=1e-7
    )


def test_hand_computed_batch_of_one_two_and_four_step_trajectories():
    for name, (adv, aux) in run_variants(empg_advantages, ENTROPY, TRAJ_ADV, NEXT_STEP, VALID):
        np.testing.assert_allclose(adv, WANT_ADV, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(aux["normalized_entropy"], WANT_NORM_ENTROPY, atol=1e-6)
        np.testing.assert_allclose(aux["g"], WANT_G, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(aux["f"], WANT_F, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(aux["bonus"], 0.1 * WANT_F, atol=1e-7, err_msg=name)
    # Last steps (A0, B1, C3) get no bonus; the padded row gets nothing at all.
    assert WANT_F[[2, 5, 7]].tolist() == [0.0, 0.0, 0.0]


def test_padded_rows_do_not_move_min_max_or_means():
    keep = np.flatnonzero(VALID)
    remap = -np.ones(len(VALID), np.int32)
    remap[keep] = np.arange(len(keep))
    compact_next = np.where(NEXT_STEP[keep] >= 0, remap[np.maximum(NEXT_STEP[keep], 0)], -1)
    compact, _ = empg_advantages(ENTROPY[keep], TRAJ_ADV[keep], compact_next.astype(np.int32))
    padded, _ = empg_advantages(ENTROPY, TRAJ_ADV, NEXT_STEP, VALID)
    np.testing.assert_allclose(np.asarray(padded)[keep], compact, atol=1e-6)
    # Garbage in a padded row (inf entropy, NaN advantage) must not leak either.
    entropy = ENTROPY.copy()
    entropy[4] = np.inf
    traj_adv = TRAJ_ADV.copy()
    traj_adv[4] = np.nan
    dirty, _ = empg_advantages(entropy, traj_adv, NEXT_STEP, VALID)
    np.testing.assert_allclose(dirty, WANT_ADV, atol=1e-6)


def test_all_equal_entropies_give_unit_scale():
    entropy = np.full(8, 0.7, np.float32)
    for name, (adv, aux) in run_variants(empg_advantages, entropy, TRAJ_ADV, NEXT_STEP, VALID):
        np.testing.assert_allclose(aux["normalized_entropy"], np.zeros(8), atol=0, err_msg=name)
        np.testing.assert_allclose(aux["g"], VALID.astype(float), atol=1e-7, err_msg=name)
        bonus = 0.1 * (WANT_F > 0)
        want = np.where(VALID, TRAJ_ADV + bonus, 0.0)
        want = np.where(VALID, want - want[VALID].mean(), 0.0)
        np.testing.assert_allclose(adv, want, atol=1e-6, err_msg=name)


def test_single_step_trajectories_get_no_bonus():
    next_step = np.full(8, -1, np.int32)
    adv, aux = empg_advantages(ENTROPY, TRAJ_ADV, next_step, VALID)
    np.testing.assert_array_equal(aux["bonus"], np.zeros(8))
    np.testing.assert_allclose(adv, reference_empg(ENTROPY, TRAJ_ADV, next_step, VALID), atol=1e-6)


def test_single_valid_step_and_empty_batch_stay_finite():
    one = np.zeros(8, bool)
    one[3] = True
    adv, aux = empg_advantages(ENTROPY, TRAJ_ADV, NEXT_STEP, one)
    np.testing.assert_allclose(aux["g"], one.astype(float), atol=1e-7)
    np.testing.assert_array_equal(adv, np.zeros(8))  # next step invalid: no bonus; zero-mean
    adv, aux = empg_advantages(ENTROPY, TRAJ_ADV, NEXT_STEP, one, zero_mean=False)
    np.testing.assert_allclose(adv[3], TRAJ_ADV[3], rtol=1e-6)
    adv, aux = empg_advantages(ENTROPY, TRAJ_ADV, NEXT_STEP, np.zeros(8, bool))
    for value in (adv, *aux.values()):
        np.testing.assert_array_equal(value, np.zeros(8))


def test_next_step_into_a_padded_row_gets_no_bonus():
    next_step = NEXT_STEP.copy()
    next_step[2] = 4  # A0 -> the padded row
    _, aux = empg_advantages(ENTROPY, TRAJ_ADV, next_step, VALID)
    assert float(aux["f"][2]) == 0.0


@pytest.mark.parametrize(
    "use_scaling,use_bonus,k,k_future,zeta",
    [(True, False, 1.0, 1.0, 0.1), (False, True, 1.0, 1.0, 0.1), (True, True, 2.0, 0.5, 0.05)],
)
def test_ablations_and_hyperparameters_match_reference(use_scaling, use_bonus, k, k_future, zeta):
    kwargs = dict(use_scaling=use_scaling, use_bonus=use_bonus, k=k, k_future=k_future, zeta=zeta)
    adv, aux = empg_advantages(ENTROPY, TRAJ_ADV, NEXT_STEP, VALID, **kwargs)
    want = reference_empg(ENTROPY, TRAJ_ADV, NEXT_STEP, VALID, **kwargs)
    np.testing.assert_allclose(adv, want, atol=1e-6)
    if not use_scaling:
        np.testing.assert_array_equal(aux["g"], VALID.astype(np.float32))
    if not use_bonus:
        np.testing.assert_array_equal(aux["bonus"], np.zeros(8))


def test_std_division_is_an_opt_in_variant():
    adv, _ = empg_advantages(ENTROPY, TRAJ_ADV, NEXT_STEP, VALID, divide_by_std=True)
    np.testing.assert_allclose(adv, WANT_ADV / WANT_ADV[VALID].std(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(adv)[VALID].std(), 1.0, rtol=1e-5)


def test_bad_inputs_raise():
    with pytest.raises(AssertionError):
        empg_advantages(ENTROPY, TRAJ_ADV, NEXT_STEP.astype(np.float32), VALID)
    with pytest.raises(AssertionError):
        empg_advantages(ENTROPY, TRAJ_ADV[:4], NEXT_STEP, VALID)


# --- token-level entry point -------------------------------------------------------------------


def _token_inputs():
    rng = np.random.default_rng(1)
    num_tokens = 5
    lengths = np.array([5, 3, 1, 4, 0, 2, 5, 3])  # the padded row has no generated token
    mask = np.arange(num_tokens)[None, :] < lengths[:, None]
    token_entropy = rng.uniform(0.0, 3.0, size=(8, num_tokens)).astype(np.float32)
    # Give each row the step entropy of the hand case: shift its valid tokens to that mean.
    for s in range(8):
        if lengths[s]:
            row = token_entropy[s, : lengths[s]]
            token_entropy[s, : lengths[s]] = row - row.mean() + ENTROPY[s]
    token_entropy[~mask] = 50.0  # padding tokens must not count
    return token_entropy, mask


def test_token_advantages_broadcast_step_advantages_to_generated_tokens():
    token_entropy, mask = _token_inputs()
    for name, (adv_sxl, aux) in run_variants(
        empg_token_advantages, token_entropy, mask, TRAJ_ADV, NEXT_STEP
    ):
        np.testing.assert_allclose(aux["step_entropy"][VALID], ENTROPY[VALID], atol=1e-5)
        np.testing.assert_allclose(aux["step_advantages"], WANT_ADV, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(adv_sxl, WANT_ADV[:, None] * mask, atol=1e-5, err_msg=name)


def test_token_advantages_pass_keyword_arguments():
    token_entropy, mask = _token_inputs()
    adv_sxl, _ = empg_token_advantages(
        token_entropy, mask, TRAJ_ADV, NEXT_STEP, VALID, use_bonus=False, zeta=0.3
    )
    want = reference_empg(ENTROPY, TRAJ_ADV, NEXT_STEP, VALID, use_bonus=False)
    np.testing.assert_allclose(adv_sxl, want[:, None] * mask, atol=1e-5)


# --- properties --------------------------------------------------------------------------------

SIZES = (8, 16)
_empg_jit = jax.jit(empg_advantages)
_empg_plain_jit = jax.jit(functools.partial(empg_advantages, use_scaling=False, use_bonus=False))


@st.composite
def empg_batches(draw):
    """A batch of steps: random trajectories over shuffled rows, some padded rows, entropy ties."""
    size = draw(st.sampled_from(SIZES))
    value = st.one_of(st.floats(0.0, 8.0, width=32), st.sampled_from([0.0, 1.0, 2.5]))
    entropy = np.array(draw(st.lists(value, min_size=size, max_size=size)), np.float32)
    traj_adv = np.array(
        draw(st.lists(st.floats(-3.0, 3.0, width=32), min_size=size, max_size=size)), np.float32
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    num_valid = draw(st.integers(1, size))
    rows = rng.permutation(size)
    valid = np.zeros(size, bool)
    valid[rows[:num_valid]] = True
    next_step = np.full(size, -1, np.int32)
    # Chain the valid rows (in shuffled order) into trajectories; each trajectory shares A.
    start = 0
    while start < num_valid:
        length = int(rng.integers(1, 5))
        members = rows[start : min(start + length, num_valid)]
        next_step[members[:-1]] = members[1:]
        traj_adv[members] = traj_adv[members[0]]
        start += length
    return entropy, traj_adv, next_step, valid


@settings(max_examples=40, deadline=None)
@given(empg_batches())
def test_properties_of_g_and_final_advantages(batch):
    entropy, traj_adv, next_step, valid = batch
    adv, aux = _empg_jit(entropy, traj_adv, next_step, valid)
    adv, g = np.asarray(adv), np.asarray(aux["g"])
    assert np.all(np.isfinite(adv)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(g[valid].mean(), 1.0, atol=1e-5)  # batch mean of g is 1
    np.testing.assert_allclose(adv[valid].mean(), 0.0, atol=1e-5)  # zero mean
    np.testing.assert_array_equal(adv[~valid], 0.0)
    # g is non-increasing in entropy: sort valid rows by entropy and compare neighbours.
    order = np.argsort(entropy[valid], kind="stable")
    assert np.all(np.diff(g[valid][order]) <= 1e-6)
    want = reference_empg(entropy, traj_adv, next_step, valid)
    np.testing.assert_allclose(adv, want, atol=2e-5)


@settings(max_examples=25, deadline=None)
@given(empg_batches())
def test_without_scaling_and_bonus_empg_is_the_zero_meaned_trajectory_advantage(batch):
    entropy, traj_adv, next_step, valid = batch
    adv, _ = _empg_plain_jit(entropy, traj_adv, next_step, valid)
    want = np.where(valid, traj_adv - traj_adv[valid].mean(), 0.0)
    np.testing.assert_allclose(adv, want, atol=1e-5)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_inputs_stay_finite_and_come_out_float32(dtype):
    """eps = 1e-8 is 0 in float16: equal entropies would give 0 / 0 if computed in the input
    dtype. The computation runs in float32 and equals the float32 result of the same inputs."""
    ent = jnp.asarray([0.7, 0.7, 0.7, 0.7], dtype)  # degenerate: max == min
    adv = jnp.asarray([1.0, -1.0, 0.5, 0.0], dtype)
    nxt = jnp.asarray([1, -1, 3, -1], jnp.int32)
    out, aux = empg_advantages(ent, adv, nxt)
    assert out.dtype == jnp.float32 and aux["g"].dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(out)))
    rng = np.random.default_rng(0)
    ent = rng.uniform(0, 3, 64)
    adv = rng.normal(size=64)
    nxt = np.where(rng.uniform(size=64) < 0.7, (np.arange(64) + 1) % 64, -1).astype(np.int32)
    half, _ = empg_advantages(jnp.asarray(ent, dtype), jnp.asarray(adv, dtype), jnp.asarray(nxt))
    full, _ = empg_advantages(
        jnp.asarray(ent, dtype).astype(jnp.float32),
        jnp.asarray(adv, dtype).astype(jnp.float32),
        jnp.asarray(nxt),
    )
    np.testing.assert_allclose(np.asarray(half), np.asarray(full), rtol=1e-6, atol=1e-6)
