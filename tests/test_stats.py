"""Every figure of ``wagtail_experiments.stats`` against scipy and statsmodels.

No database: ``stats`` is pure Python. Inputs are randomised with fixed seeds and span
single visitors to millions, so both the small-sample and the large-count code paths run.
"""

import gc
import math
import random
import time

import numpy as np
import pytest
from scipy import integrate, optimize, special
from scipy import stats as scipy_stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats import rates as sm_rates
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from wagtail_experiments import stats

TOLERANCE = 1e-6
BAYESIAN_TOLERANCE = 1e-4
ALPHAS = [0.001, 0.01, 0.05, 0.1, 0.2]


def random_arm(rng):
    """(visitors, conversions): from a handful of visitors to millions, rates 0 % to 100 %."""
    visitors = rng.choice(
        [rng.randint(1, 30), rng.randint(30, 5_000), rng.randint(5_000, 2_000_000)]
    )
    draw = rng.random()
    if draw < 0.08:
        rate = 0.0
    elif draw < 0.12:
        rate = 1.0
    else:
        rate = rng.choice([rng.random(), rng.uniform(0, 0.2), rng.uniform(0, 0.05)])
    return visitors, round(visitors * rate)


def random_pair(rng):
    """A control and a variant of similar size and rate, so that p-values are interesting."""
    control_visitors, control_conversions = random_arm(rng)
    if rng.random() < 0.2:
        return (control_visitors, control_conversions), random_arm(rng)
    visitors = max(1, round(control_visitors * rng.uniform(0.7, 1.4)))
    rate = min(1.0, control_conversions / control_visitors * rng.uniform(0.8, 1.25))
    conversions = int(np.random.default_rng(rng.getrandbits(32)).binomial(visitors, rate))
    return (control_visitors, control_conversions), (visitors, conversions)


def random_pairs(seed, count):
    rng = random.Random(seed)
    return [random_pair(rng) for _ in range(count)]


def close(actual, expected, tolerance=TOLERANCE):
    """Absolute tolerance, relative for large figures (a lift can be in the thousands)."""
    return actual == pytest.approx(expected, abs=tolerance, rel=tolerance)


def posterior(visitors, conversions):
    """Beta parameters of a conversion rate after a uniform prior."""
    return 1 + conversions, 1 + visitors - conversions


def beta_pdf(x, a, b):
    # scipy.special rather than scipy.stats.beta: quad calls this thousands of times, and the
    # distribution objects' per-call overhead would dominate the test's runtime.
    return np.exp(special.xlogy(a - 1, x) + special.xlog1py(b - 1, -x) - special.betaln(a, b))


def integration_range(a, b):
    """Where a Beta posterior has all but 1e-14 of its mass: quad misses narrow peaks."""
    return special.betaincinv(a, b, 1e-14), special.betainccinv(a, b, 1e-14), a / (a + b)


def integrate_over_control(control, variant, integrand):
    """Integral of the control's density times ``integrand`` over the control's range.

    The integrand changes fastest near the variant's rate, which can be a sliver of that
    range (0 of 25 against 0 of 600,000 visitors): quad is told where to look."""
    control_a, control_b = posterior(*control)
    low, high, peak = integration_range(control_a, control_b)
    variant_low, variant_high, variant_peak = integration_range(*posterior(*variant))
    points = [peak] + [x for x in (variant_low, variant_peak, variant_high) if low < x < high]
    value, _ = integrate.quad(
        lambda x: beta_pdf(x, control_a, control_b) * integrand(x),
        low,
        high,
        points=sorted(points),
        limit=500,
        epsabs=1e-14,
        epsrel=1e-10,
    )
    return value


def integrated_chance_to_beat(control, variant):
    """P(p_v > p_c) = integral of pdf_c(x) P(p_v > x)."""
    variant_a, variant_b = posterior(*variant)
    return integrate_over_control(
        control, variant, lambda x: special.betaincc(variant_a, variant_b, x)
    )


def integrated_expected_loss(control, variant):
    """E[max(p_c - p_v, 0)]: over p_c = x, E[(x - p_v)+] = x F_v(x) - mean_v F_v'(x),
    where v' has one more conversion (x times a Beta density is the next Beta's)."""
    variant_a, variant_b = posterior(*variant)
    variant_mean = variant_a / (variant_a + variant_b)
    return integrate_over_control(
        control,
        variant,
        lambda x: (
            x * special.betainc(variant_a, variant_b, x)
            - variant_mean * special.betainc(variant_a + 1, variant_b, x)
        ),
    )


def comparison(control, variant, **options):
    return stats.analyze([control, variant], **options)["variants"][1]


# Wilson interval and conversion rate


def test_conversion_rate_and_wilson_interval_match_statsmodels():
    rng = random.Random(101)
    for _ in range(600):
        arms = [random_arm(rng), random_arm(rng)]
        alpha = rng.choice([*ALPHAS, rng.uniform(0.0005, 0.5)])
        result = stats.analyze(arms, alpha=alpha)
        for (visitors, conversions), variant in zip(arms, result["variants"], strict=True):
            low, high = proportion_confint(conversions, visitors, alpha=alpha, method="wilson")
            assert variant["visitors"] == visitors
            assert variant["conversions"] == conversions
            assert close(variant["conversion_rate"], conversions / visitors)
            assert close(variant["ci_low"], low)
            assert close(variant["ci_high"], high)
            assert 0 <= variant["ci_low"] <= variant["conversion_rate"] <= variant["ci_high"] <= 1


# Fixed-horizon method


# statsmodels also computes an odds ratio it does not need here, dividing by zero at 100 %.
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_fixed_p_value_and_interval_are_statsmodels_log_ratio_test():
    """The fixed method is one Wald test of the log rate ratio: its p-value and its lift
    interval both come from it (statsmodels' ``compare="ratio", method="log"``)."""
    rng = random.Random(202)
    tested = 0
    for control, variant in random_pairs(202, 600):
        alpha = rng.choice([*ALPHAS, rng.uniform(0.0005, 0.5)])
        result = comparison(control, variant, method="fixed", alpha=alpha)
        if control[1] == 0 or variant[1] == 0:
            continue  # the exact conditional test instead, below
        assert close(result["lift"], (variant[1] / variant[0]) / (control[1] / control[0]) - 1)
        if variant[1] == variant[0] and control[1] == control[0]:
            assert result["lift_ci_low"] is result["lift_ci_high"] is result["p_value"] is None
            continue
        args = (variant[1], variant[0], control[1], control[0])
        expected_p = sm_proportion.test_proportions_2indep(
            *args, compare="ratio", method="log"
        ).pvalue
        low, high = confint_proportions_2indep(*args, compare="ratio", method="log",
                                               alpha=alpha)
        assert close(result["p_value"], expected_p), (control, variant)
        assert close(result["lift_ci_low"], low - 1), (control, variant)
        assert close(result["lift_ci_high"], high - 1), (control, variant)
        tested += 1
    assert tested > 400


@pytest.mark.parametrize("method", stats.METHODS)
def test_p_value_below_alpha_exactly_when_the_interval_excludes_zero(method):
    """One statistic per method: significance and the interval never disagree, and no
    interval goes below -100 %."""
    rng = random.Random(212)
    disagreements = tested = 0
    for control, variant in random_pairs(212, 561):
        alpha = rng.choice(ALPHAS)
        result = comparison(control, variant, method=method, alpha=alpha)
        if result["lift_ci_low"] is None:
            continue  # no interval: an arm without conversions (Fisher's exact test)
        excludes_zero = result["lift_ci_low"] > 0 or result["lift_ci_high"] < 0
        disagreements += (result["p_value"] < alpha) != excludes_zero
        assert -1 <= result["lift_ci_low"] <= result["lift"] <= result["lift_ci_high"]
        tested += 1
    assert tested > 400
    assert disagreements == 0


def test_the_audited_contradiction_is_gone():
    """p = 0.0479 with a lift interval of (-0.008, 0.286) before: now one test."""
    result = comparison((8200, 410), (8200, 467), method="fixed")
    assert result["p_value"] == pytest.approx(0.048070407, abs=1e-8)
    assert result["lift_ci_low"] == pytest.approx(0.0011057, abs=1e-6)
    assert result["lift_ci_low"] > 0


@pytest.mark.parametrize("method", stats.METHODS)
def test_swapping_the_arms_gives_the_same_p_value(method):
    """Symmetric on the log scale: (100, 7) vs (100, 1) gave p = 0.005 one way and 1.0 the
    other under the delta method on the relative lift."""
    for control, variant in [((100, 7), (100, 1)), *random_pairs(222, 200)]:
        forward = comparison(control, variant, method=method)
        backward = comparison(variant, control, method=method)
        if forward["lift_ci_low"] is None or backward["lift_ci_low"] is None:
            continue
        assert close(forward["p_value"], backward["p_value"])
        # The relative intervals mirror each other: (1 + low) * (1 + high') == 1.
        assert close((1 + forward["lift_ci_low"]) * (1 + backward["lift_ci_high"]), 1.0)


# Sequential method


def reference_sequential_half_width(standard_error, total_visitors, alpha, tuning):
    """GrowthBook's confidence sequence, written straight from the formula with numpy."""
    rho = np.sqrt((-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / tuning)
    n = np.float64(total_visitors)
    return (
        standard_error
        * np.sqrt(n)
        * np.sqrt(2 * (n * rho**2 + 1) / (n**2 * rho**2) * np.log(np.sqrt(n * rho**2 + 1) / alpha))
    )


def log_ratio(control, variant):
    """ln(variant rate / control rate) and its delta-method standard error, with numpy."""
    (control_visitors, control_conversions), (visitors, conversions) = control, variant
    rate, control_rate = np.float64(conversions) / visitors, control_conversions / control_visitors
    estimate = np.log(rate / control_rate)
    variance = 1 / conversions - 1 / visitors + 1 / control_conversions - 1 / control_visitors
    return estimate, np.sqrt(variance)


def test_sequential_lift_interval_matches_the_confidence_sequence_formula():
    """GrowthBook's confidence sequence, on the log rate ratio, reported as a lift."""
    rng = random.Random(404)
    tested = 0
    for control, variant in random_pairs(404, 600):
        alpha = rng.choice([*ALPHAS, rng.uniform(0.001, 0.5)])
        tuning = rng.choice([5000, 100, 1_000_000, rng.uniform(10, 100_000)])
        result = comparison(control, variant, alpha=alpha, sequential_tuning=tuning)
        if control[1] == 0 or variant[1] == 0:
            continue  # the exact conditional test instead, below
        if variant[1] == variant[0] and control[1] == control[0]:
            assert result["lift_ci_low"] is result["p_value"] is None
            continue
        estimate, standard_error = log_ratio(control, variant)
        half_width = reference_sequential_half_width(
            standard_error, control[0] + variant[0], alpha, tuning
        )
        assert close(result["lift"], np.exp(estimate) - 1)
        assert close(result["lift_ci_low"], np.exp(estimate - half_width) - 1)
        assert close(result["lift_ci_high"], np.exp(estimate + half_width) - 1)
        tested += 1
    assert tested > 400


def test_sequential_p_value_is_where_the_interval_stops_containing_zero():
    rng = random.Random(505)
    boundary_checks = certain = hopeless = 0
    for control, variant in random_pairs(505, 500):
        tuning = rng.choice([5000, 200, 50_000])
        result = comparison(control, variant, sequential_tuning=tuning)
        p_value = result["p_value"]
        if result["lift_ci_low"] is None:
            continue
        assert 0 <= p_value <= 1
        certain += p_value < 1e-12
        hopeless += p_value == 1
        for alpha in [*ALPHAS, rng.uniform(0.001, 0.999)]:
            at_alpha = comparison(control, variant, alpha=alpha, sequential_tuning=tuning)
            excludes_zero = at_alpha["lift_ci_low"] > 0 or at_alpha["lift_ci_high"] < 0
            assert (p_value < alpha) == excludes_zero, (control, variant, alpha, p_value)
        if 1e-12 < p_value < 1:
            at_p_value = comparison(control, variant, alpha=p_value, sequential_tuning=tuning)
            nearest_bound = min(abs(at_p_value["lift_ci_low"]), abs(at_p_value["lift_ci_high"]))
            assert nearest_bound < TOLERANCE, (control, variant, p_value)
            boundary_checks += 1
    # Every branch ran: the root search, and both ends where no search is needed.
    assert boundary_checks > 60
    assert certain > 60
    assert hopeless > 60


def test_sequential_interval_is_wider_than_the_fixed_one():
    for control, variant in random_pairs(606, 200):
        sequential = comparison(control, variant)
        fixed = comparison(control, variant, method="fixed")
        if sequential["lift_ci_low"] is not None and control[1] and variant[1]:
            assert sequential["lift_ci_low"] < fixed["lift_ci_low"]
            assert sequential["lift_ci_high"] > fixed["lift_ci_high"]


def test_sequential_peeking_keeps_false_positives_below_alpha_unlike_the_fixed_test():
    """400 A/A experiments (both arms convert at 10 %), each looked at 20 times, every 500
    visitors per arm: stopping at the first look with p < 0.05 must stay a 5 % risk."""
    rng = np.random.default_rng(20240601)
    experiments, looks, batch, rate = 400, 20, 500, 0.1
    conversions = rng.binomial(batch, rate, size=(experiments, looks, 2)).cumsum(axis=1).tolist()
    visitors = [batch * (look + 1) for look in range(looks)]

    def false_positive_rate(method):
        false_positives = 0
        for experiment in conversions:
            for look_visitors, (control, variant) in zip(visitors, experiment, strict=True):
                counts = [(look_visitors, control), (look_visitors, variant)]
                p_value = stats.analyze(counts, method=method)["variants"][1]["p_value"]
                if p_value is not None and p_value < 0.05:
                    false_positives += 1
                    break
        return false_positives / experiments

    sequential_rate = false_positive_rate("sequential")
    fixed_rate = false_positive_rate("fixed")
    print(f"A/A false-positive rate with 20 peeks: {sequential_rate=} {fixed_rate=}")
    assert sequential_rate <= 0.05
    assert fixed_rate > 0.08


# Multiple comparisons


@pytest.fixture
def fast_multipletests(monkeypatch):
    """statsmodels' Holm branch runs a full gc.collect() per call (~0.1 s in this process),
    which would make hundreds of cross-checks take a minute; its result does not depend on
    it, so garbage collection waits until the test is over."""
    monkeypatch.setattr(gc, "collect", lambda *args: 0)


@pytest.mark.usefixtures("fast_multipletests")
def test_holm_adjustment_matches_statsmodels():
    rng = random.Random(707)
    for _ in range(500):
        p_values = [
            rng.choice([rng.random(), rng.random() ** 6, 1.0, 0.0, 0.05])
            for _ in range(rng.randint(1, 8))
        ]
        _, expected, _, _ = multipletests(p_values, method="holm")
        assert stats.holm_adjust(p_values) == pytest.approx(list(expected), abs=1e-12)


@pytest.mark.usefixtures("fast_multipletests")
@pytest.mark.parametrize("method", stats.METHODS)
def test_adjusted_p_values_of_an_a_b_n_test_match_statsmodels(method):
    rng = random.Random(808)
    for _ in range(150):
        control = random_arm(rng)
        arms = [control] + [random_pair(rng)[1] for _ in range(rng.randint(2, 5))]
        if rng.random() < 0.2:
            arms[rng.randrange(1, len(arms))] = (0, 0)
        variants = stats.analyze(arms, method=method)["variants"][1:]
        p_values = [variant["p_value"] for variant in variants]
        # An untestable variant stays part of the planned comparisons, as if its p were 1.
        _, expected, _, _ = multipletests(
            [1.0 if p is None else p for p in p_values], method="holm"
        )
        for variant, holm in zip(variants, expected, strict=True):
            if variant["p_value"] is None:
                assert variant["p_value_adjusted"] is None
            else:
                assert close(variant["p_value_adjusted"], holm)


def test_an_a_b_test_needs_no_adjustment():
    for control, variant in random_pairs(909, 100):
        for method in stats.METHODS:
            result = comparison(control, variant, method=method)
            assert result["p_value_adjusted"] == result["p_value"]


# Bayesian figures

LARGE_PAIRS = [
    ((1_000_000, 30_000), (1_000_000, 30_300)),
    ((1_000_000, 30_000), (1_000_000, 29_000)),
    ((1_000_000, 30_000), (950_000, 28_700)),
    # Past NORMAL_APPROXIMATION_THRESHOLD on every parameter: the normal approximation.
    ((2_000_000, 150_000), (2_000_000, 150_400)),
    # Arms of different sizes: here a plain normal curve is 1.2e-4 off, hence the skewness
    # correction.
    ((1_836_593, 112_303), (3_345_593, 204_701)),
    ((3_751_218, 2_200_152), (61_870_843, 36_315_906)),
    ((2_000_000, 1_000_000), (1_900_000, 951_000)),
    ((3_000_000, 2_800_000), (3_000_000, 2_799_000)),
    # Lopsided: one arm is huge, the other tiny.
    ((2_000_000, 100_000), (20, 2)),
    ((20, 19), (2_000_000, 1_999_990)),
]


def bayesian_cases(seed, count):
    return random_pairs(seed, count) + LARGE_PAIRS


def test_chance_to_beat_control_matches_numerical_integration():
    for control, variant in bayesian_cases(1001, 400):
        result = comparison(control, variant)
        expected = integrated_chance_to_beat(control, variant)
        assert abs(result["chance_to_beat_control"] - expected) < BAYESIAN_TOLERANCE, (
            control,
            variant,
        )


def test_chance_to_beat_control_matches_the_exact_beta_negative_binomial_sum():
    """Evan Miller's sum is the CDF of a beta-negative-binomial distribution: scipy sums it
    independently, which checks the exact path far beyond the 1e-4 requirement (scipy's own
    sum is off by up to ~1e-8 at a million visitors, hence not tighter)."""
    for control, variant in random_pairs(1102, 200):
        if max(control[1], variant[1]) > 50_000:
            continue
        (control_visitors, control_conversions), (visitors, conversions) = control, variant
        expected = scipy_stats.betanbinom.cdf(
            conversions,
            1 + visitors - conversions,
            1 + control_visitors - control_conversions,
            1 + control_conversions,
        )
        assert abs(comparison(control, variant)["chance_to_beat_control"] - expected) < 1e-7


def test_expected_loss_matches_numerical_integration():
    for control, variant in bayesian_cases(1203, 400):
        result = comparison(control, variant)
        expected = integrated_expected_loss(control, variant)
        assert abs(result["expected_loss"] - expected) < BAYESIAN_TOLERANCE, (control, variant)
        # Losses are small numbers (0.001 = 0.1 point), so check them relatively too.
        assert result["expected_loss"] == pytest.approx(expected, rel=1e-4, abs=1e-8)


def test_identical_arms_have_even_chances_at_every_size():
    for visitors in [1, 10, 1_000, 100_000, 10**7, 10**9]:
        for rate in [0, 0.001, 0.03, 0.5, 0.97, 1]:
            arm = (visitors, round(visitors * rate))
            assert comparison(arm, arm)["chance_to_beat_control"] == pytest.approx(0.5, abs=1e-9)


def test_normal_approximation_agrees_with_the_exact_sums(monkeypatch):
    rng = random.Random(1607)
    pairs = []
    while len(pairs) < 40:
        (control_visitors, _), (visitors, _) = random_pair(rng)
        control_visitors, visitors = control_visitors * 3, visitors * 3
        control_rate = rng.uniform(0.05, 0.95)
        variant_rate = control_rate * rng.uniform(0.995, 1.005)
        control = (control_visitors, round(control_visitors * control_rate))
        variant = (visitors, min(visitors, round(visitors * variant_rate)))
        parameters = [*stats._posterior(*control), *stats._posterior(*variant)]
        if min(parameters) >= stats.NORMAL_APPROXIMATION_THRESHOLD:
            pairs.append((control, variant))
    approximated = [comparison(control, variant) for control, variant in pairs]
    monkeypatch.setattr(stats, "NORMAL_APPROXIMATION_THRESHOLD", math.inf)
    for (control, variant), approximate in zip(pairs, approximated, strict=True):
        exact = comparison(control, variant)
        for key in ("chance_to_beat_control", "expected_loss"):
            assert approximate[key] == pytest.approx(exact[key], abs=1e-6), (control, variant)


def test_bayesian_figures_are_fast_for_large_counts():
    for counts in (
        [(1_000_000, 30_000), (1_000_000, 30_450)],
        # Just below NORMAL_APPROXIMATION_THRESHOLD: the longest exact sums.
        [(99_000, 29_700), (99_000, 29_700)],
        [(10**9, 3 * 10**7), (10**9, 3 * 10**7)],
    ):
        best = math.inf
        for _ in range(5):
            started = time.perf_counter()
            stats.analyze(counts)
            best = min(best, time.perf_counter() - started)
        assert best < 0.05


# Sample ratio mismatch


def test_an_arm_without_conversions_is_tested_exactly_with_its_interval():
    """A variant that stops all conversions is clearly worse, not untestable: the exact
    conditional test of the rate ratio (twice scipy's one-sided binomial test of where the
    conversions fell) and the interval that inverts it (Clopper-Pearson's bound of the
    variant's share, from scipy, as a rate ratio), for both methods."""
    rng = random.Random(1801)
    checked = 0
    for _ in range(200):
        control_visitors, visitors = rng.randint(1, 20_000), rng.randint(1, 20_000)
        conversions = rng.randint(1, min(control_visitors, 800))
        alpha, method = rng.choice(ALPHAS), rng.choice(stats.METHODS)
        arms = [(control_visitors, conversions), (visitors, 0)]
        if rng.random() < 0.5:
            arms.reverse()
        result = stats.analyze(arms, alpha=alpha, method=method)["variants"][1]
        (first_visitors, first), (second_visitors, second) = arms
        converted = first + second
        share = second_visitors / (first_visitors + second_visitors)
        one_sided = scipy_stats.binomtest(
            second, converted, share, alternative="less" if second == 0 else "greater").pvalue
        assert close(result["p_value"], min(1.0, 2 * one_sided))
        if second:  # a control without conversions: no lift to bound
            assert result["lift"] is result["lift_ci_low"] is result["lift_ci_high"] is None
            continue
        bound = scipy_stats.binomtest(0, converted, share).proportion_ci(
            1 - alpha, method="exact").high
        ratio = bound * first_visitors / ((1 - bound) * second_visitors)
        assert result["lift"] == result["lift_ci_low"] == -1.0
        assert close(result["lift_ci_high"], ratio - 1, 1e-9)
        assert (result["p_value"] < alpha) == (result["lift_ci_high"] < 0)
        checked += 1
    assert checked > 60
    # statsmodels' exact conditional test of two rates agrees (equal visitors: symmetric).
    reference = sm_rates.test_poisson_2indep(0, 1000, 5, 1000, method="exact-cond")
    assert close(stats.analyze([(1000, 5), (1000, 0)])["variants"][1]["p_value"],
                 reference.pvalue)
    assert stats.analyze([(14_000, 560), (14_000, 0)])["variants"][1]["p_value"] < 1e-100


def test_the_audited_zero_conversion_case_has_an_interval():
    """Significant with no interval was the audit's complaint: now the interval says how
    much worse the variant is at most, and excludes 0 exactly when the p-value is below
    alpha."""
    clear = stats.analyze([(5000, 60), (5000, 0)], method="fixed")["variants"][1]
    assert clear["p_value"] < 1e-15 and -1 == clear["lift_ci_low"] < clear["lift_ci_high"] < -0.9
    unclear = stats.analyze([(5000, 4), (5000, 0)], method="fixed")["variants"][1]
    assert unclear["p_value"] == 0.125 and unclear["lift_ci_high"] > 0


def test_sample_ratio_mismatch_matches_scipy_chisquare():
    rng = random.Random(1304)
    detected = 0
    for _ in range(400):
        arm_count = rng.randint(2, 6)
        weights = rng.choice(
            [
                [rng.randint(1, 100) for _ in range(arm_count)],
                [rng.uniform(0.01, 5) for _ in range(arm_count)],
                [1] * arm_count,
            ]
        )
        total = rng.choice([rng.randint(1, 50), rng.randint(50, 100_000)])
        shares = np.array(weights) / sum(weights)
        # Mostly well-behaved splits, some visibly broken ones.
        skewed = shares * np.array([rng.uniform(0.9, 1.1) for _ in range(arm_count)])
        visitors = np.random.default_rng(rng.getrandbits(32)).multinomial(
            total, skewed / skewed.sum()
        )
        counts = [(int(v), 0) for v in visitors]
        result = stats.analyze(counts, weights=weights)
        expected = scipy_stats.chisquare(visitors, f_exp=total * shares).pvalue
        assert close(result["srm_p_value"], expected), (visitors, weights)
        assert result["srm_detected"] == (expected < 0.001)
        detected += result["srm_detected"]
    assert 10 < detected < 300


def test_sample_ratio_mismatch_defaults_to_equal_weights():
    result = stats.analyze([(5_000, 0), (5_200, 0), (4_700, 0)])
    expected = scipy_stats.chisquare([5_000, 5_200, 4_700]).pvalue
    assert close(result["srm_p_value"], expected)
    assert result["srm_detected"] == (expected < 0.001)


def test_chi_square_survival_matches_scipy_across_degrees_of_freedom():
    rng = random.Random(1405)
    for _ in range(500):
        degrees_of_freedom = rng.randint(1, 60)
        statistic = rng.choice([rng.uniform(0, 5), rng.uniform(0, 200), rng.expovariate(0.01)])
        expected = scipy_stats.chi2.sf(statistic, degrees_of_freedom)
        assert close(stats._chi_square_survival(statistic, degrees_of_freedom), expected)


# Sample size


def reference_sample_size(baseline_rate, mde_relative, alpha, power, variants=2):
    """The log rate ratio's Wald test, at Bonferroni's alpha / (variants - 1)."""
    p1, p2 = baseline_rate, baseline_rate * (1 + mde_relative)
    z = scipy_stats.norm.ppf(1 - alpha / (variants - 1) / 2) + scipy_stats.norm.ppf(power)
    return math.ceil(z**2 * ((1 - p1) / p1 + (1 - p2) / p2) / np.log(p2 / p1) ** 2)


def test_fixed_sample_size_matches_the_log_ratio_formula():
    rng = random.Random(1506)
    assert stats.sample_size(0.05, 0.1, method="fixed") == 31_263
    for _ in range(500):
        baseline = rng.uniform(0.001, 0.6)
        mde = rng.choice([rng.uniform(0.01, 0.5), -rng.uniform(0.01, 0.5)])
        alpha = rng.choice(ALPHAS)
        power = rng.choice([0.8, 0.9, rng.uniform(0.5, 0.99)])
        variants = rng.choice([2, 2, 3, 5])
        expected = reference_sample_size(baseline, mde, alpha, power, variants)
        assert stats.sample_size(baseline, mde, alpha=alpha, power=power, method="fixed",
                                 variants=variants) == expected


def simulated_power(baseline, mde, visitors, method, looks=1, tuning=None, runs=2000, seed=7):
    """Share of simulated experiments the project's own test calls significant (p < 0.05
    and the right direction) at any of ``looks`` evenly spaced looks up to ``visitors``."""
    rng = np.random.default_rng(seed)
    step = visitors // looks
    draws = rng.binomial(step, [baseline, baseline * (1 + mde)], size=(runs, looks, 2))
    cumulative = draws.cumsum(axis=1).tolist()
    detected = 0
    for experiment in cumulative:
        for look, (control, variant) in enumerate(experiment, start=1):
            options = {"sequential_tuning": tuning} if tuning else {}
            result = stats.analyze([(step * look, control), (step * look, variant)],
                                   method=method, **options)["variants"][1]
            if result["p_value"] is not None and result["p_value"] < 0.05 and result["lift"] > 0:
                detected += 1
                break
    return detected / runs


def test_planned_samples_have_their_power_in_simulation():
    """At the planned sample, the fixed test detects +20 % on a 10 % baseline 80 % of the
    time; the sequential one at least that often by its (larger) planned sample, whether
    it is read once at the end or at each of 10 looks."""
    fixed = stats.sample_size(0.1, 0.2, method="fixed")
    assert simulated_power(0.1, 0.2, fixed, "fixed") == pytest.approx(0.8, abs=0.03)
    tuning = stats.planned_sequential_tuning(0.1, 0.2)
    sequential = stats.sample_size(0.1, 0.2, method="sequential")
    assert 1.5 * fixed < sequential < 3 * fixed
    assert simulated_power(0.1, 0.2, sequential, "sequential", tuning=tuning) >= 0.78
    assert simulated_power(0.1, 0.2, sequential, "sequential", looks=10, tuning=tuning) >= 0.8
    # The fixed-horizon figure is not enough for the sequential test: the 2-2.7x.
    assert simulated_power(0.1, 0.2, fixed, "sequential", tuning=tuning) < 0.6


def test_planned_sequential_tuning_is_the_sequential_sample_of_one_comparison():
    for baseline, mde, variants in [(0.05, 0.1, 2), (0.2, -0.15, 3), (0.01, 0.3, 4)]:
        tuning = stats.planned_sequential_tuning(baseline, mde, variants=variants)
        planned = stats.sample_size(baseline, mde, variants=variants, sequential_tuning=tuning)
        assert 2 * planned == pytest.approx(tuning, rel=0.01)
        assert stats.sample_size(baseline, mde, variants=variants) == planned


@pytest.mark.parametrize("method", stats.METHODS)
def test_detectable_effect_inverts_the_sample_size(method):
    rng = random.Random(1606)
    for _ in range(60):
        baseline = rng.uniform(0.005, 0.5)
        visitors = rng.randint(200, 500_000)
        variants = rng.choice([2, 3])
        tuning = rng.choice([5000, 2 * visitors])
        lift = stats.detectable_effect(baseline, visitors, method=method, variants=variants,
                                       sequential_tuning=tuning)
        if lift is None:
            assert visitors < 5000
            continue
        assert 0 < lift < 1 / baseline - 1
        needed = stats.sample_size(baseline, lift, method=method, variants=variants,
                                   sequential_tuning=tuning)
        assert needed == pytest.approx(visitors, abs=1, rel=1e-6)
        assert stats.sample_size(baseline, lift * 0.98, method=method, variants=variants,
                                 sequential_tuning=tuning) > visitors
    assert stats.detectable_effect(0.05, 0) is None


def reference_margin(baseline, target, visitors, alpha, power, method, tuning):
    """Power margin of the log-ratio test with ``visitors`` per arm (continuous), with
    scipy's normal quantiles and the numpy confidence sequence."""
    spread = (1 - baseline) / baseline + (1 - target) / target
    standard_error = np.sqrt(spread / visitors)
    if method == "fixed":
        half_width = scipy_stats.norm.ppf(1 - alpha / 2) * standard_error
    else:
        half_width = reference_sequential_half_width(standard_error, 2 * visitors, alpha, tuning)
    noise = scipy_stats.norm.ppf(power) * standard_error
    return abs(np.log(target / baseline)) - half_width - noise


def reference_planned_visitors(baseline, mde, alpha, power, method, variants, tuning):
    corrected = alpha / (variants - 1)
    target = baseline * (1 + mde)
    root = optimize.brentq(
        lambda n: reference_margin(baseline, target, n, corrected, power, method, tuning),
        1e-3, 1e12, xtol=1e-9, rtol=1e-15)
    return root


def reference_planned_tuning(baseline, mde, alpha, power, variants):
    tuning = 2 * math.ceil(reference_planned_visitors(baseline, mde, alpha, power, "fixed",
                                                 variants, None))
    for _ in range(20):
        planned = 2 * math.ceil(reference_planned_visitors(baseline, mde, alpha, power,
                                                      "sequential", variants, tuning))
        if abs(planned - tuning) <= 0.01 * tuning:
            return planned
        tuning = planned
    return tuning


def test_planning_matches_an_independent_root_finder():
    """Sample sizes, the planned tuning and the detectable effect of both methods, against
    scipy's root finder on the same power condition (normal quantiles from scipy, the
    confidence sequence from its published formula): the same whole visitors, and the
    same lift to 1e-6."""
    rng = random.Random(1707)
    checked = 0
    for _ in range(40):
        baseline = rng.uniform(0.005, 0.4)
        mde = rng.choice([-1, 1]) * rng.uniform(0.03, 0.6)
        if not 0 < baseline * (1 + mde) < 1:
            continue
        alpha, power = rng.choice(ALPHAS), rng.choice([0.7, 0.8, 0.9])
        variants = rng.choice([2, 3, 4])
        tuning = reference_planned_tuning(baseline, mde, alpha, power, variants)
        assert stats.planned_sequential_tuning(baseline, mde, alpha, power,
                                               variants=variants) == tuning
        for method in stats.METHODS:
            root = reference_planned_visitors(baseline, mde, alpha, power, method, variants, tuning)
            planned = stats.sample_size(baseline, mde, alpha, power, method=method,
                                        variants=variants, sequential_tuning=tuning)
            assert planned == math.ceil(root) or abs(root - round(root)) < 1e-6
            visitors = rng.randint(500, 400_000)
            lift = stats.detectable_effect(baseline, visitors, alpha, power, method=method,
                                           variants=variants, sequential_tuning=tuning,
                                           higher_is_better=mde > 0)
            corrected = alpha / (variants - 1)

            def margin(size, sign=1 if mde > 0 else -1, visitors=visitors, method=method,
                       baseline=baseline, corrected=corrected, power=power, tuning=tuning):
                return reference_margin(baseline, baseline * (1 + sign * size), visitors,
                                        corrected, power, method, tuning)

            upper = (1 / baseline - 1) * (1 - 1e-9) if mde > 0 else 1 - 1e-9
            if margin(upper) < 0 if mde > 0 else max(margin(k / 100) for k in range(1, 100)) < 0:
                assert lift is None
                continue
            if mde < 0:
                upper = next(k / 100 for k in range(1, 100) if margin(k / 100) >= 0)
            expected = optimize.brentq(margin, 1e-12, upper, xtol=1e-15, rtol=1e-13)
            assert close(abs(lift), expected, 1e-6), (baseline, visitors, method, mde)
            checked += 1
    assert checked > 40


def test_detectable_drop_for_goals_that_should_go_down():
    drop = stats.detectable_effect(0.2, 5000, higher_is_better=False)
    assert -1 < drop < 0
    assert stats.sample_size(0.2, drop, sequential_tuning=10_000) == pytest.approx(5000, abs=1)
    # By default the sequence is tuned for the visitors at hand: the inverse of the plan.
    planned = stats.sample_size(0.05, 0.1)
    assert stats.detectable_effect(0.05, planned) == pytest.approx(0.1, rel=1e-4)


# Edge cases: no crash, None where a figure is undefined

COMPARISON_KEYS = {
    "lift",
    "lift_ci_low",
    "lift_ci_high",
    "p_value",
    "p_value_adjusted",
    "chance_to_beat_control",
    "expected_loss",
}


@pytest.mark.parametrize("method", stats.METHODS)
def test_all_zero_counts(method):
    result = stats.analyze([(0, 0), (0, 0), (0, 0)], method=method)
    assert result["srm_p_value"] == 1.0
    assert result["srm_detected"] is False
    control, *variants = result["variants"]
    assert set(control) == {"visitors", "conversions", "conversion_rate", "ci_low", "ci_high"}
    for arm in result["variants"]:
        assert arm["conversion_rate"] == 0
        assert arm["ci_low"] is arm["ci_high"] is None
    for variant in variants:
        assert set(variant) - set(control) == COMPARISON_KEYS
        assert all(variant[key] is None for key in COMPARISON_KEYS)


@pytest.mark.parametrize("method", stats.METHODS)
def test_control_without_conversions_has_no_lift(method):
    variant = comparison((400, 0), (400, 12), method=method)
    assert variant["lift"] is variant["lift_ci_low"] is variant["lift_ci_high"] is None
    # The rate ratio is undefined here: the exact conditional test gives the p-value (all
    # 12 conversions in the variant, each there with chance 1/2), and there is no interval.
    assert close(variant["p_value"], 2 * 0.5**12)
    assert variant["p_value_adjusted"] == variant["p_value"]
    assert variant["chance_to_beat_control"] > 0.99
    assert variant["expected_loss"] < 1e-4


@pytest.mark.parametrize("method", stats.METHODS)
def test_variant_without_visitors(method):
    result = stats.analyze([(1_000, 50), (0, 0)], method=method)
    variant = result["variants"][1]
    assert variant["conversion_rate"] == 0
    assert variant["ci_low"] is variant["ci_high"] is None
    assert all(variant[key] is None for key in COMPARISON_KEYS)
    assert result["srm_detected"] is True


@pytest.mark.parametrize("method", stats.METHODS)
def test_everybody_converting(method):
    same = comparison((50, 50), (50, 50), method=method)
    assert same["lift"] == 0
    # Zero variance everywhere: no interval and no test, rather than a fake certainty.
    assert same["lift_ci_low"] is same["lift_ci_high"] is same["p_value"] is None
    assert close(same["chance_to_beat_control"], 0.5)

    worse = comparison((50, 50), (40, 30), method=method)
    assert worse["lift"] == pytest.approx(-0.25)
    assert worse["lift_ci_low"] < -0.25 < worse["lift_ci_high"]
    assert worse["p_value"] is not None
    assert worse["chance_to_beat_control"] < 0.01


@pytest.mark.parametrize("method", stats.METHODS)
def test_single_visitors(method):
    result = stats.analyze([(1, 1), (1, 0)], method=method)
    control, variant = result["variants"]
    low, high = proportion_confint(1, 1, method="wilson")
    assert close(control["ci_low"], low)
    assert close(control["ci_high"], high)
    assert variant["lift"] == -1
    # No conversion in the variant, one in the control: the exact conditional test, where
    # the one conversion fell in either arm with chance 1/2, cannot tell them apart.
    assert variant["p_value"] == 1.0
    assert variant["lift_ci_low"] == -1 and variant["lift_ci_high"] > 0
    assert close(variant["chance_to_beat_control"], integrated_chance_to_beat((1, 1), (1, 0)))
    assert close(variant["expected_loss"], integrated_expected_loss((1, 1), (1, 0)))
    assert result["srm_p_value"] == 1.0


def test_clear_winner_gets_tiny_p_values_not_zero_divisions():
    for method in stats.METHODS:
        variant = comparison((100_000, 1_000), (100_000, 2_000), method=method)
        assert variant["p_value"] < 1e-12
        assert variant["chance_to_beat_control"] == pytest.approx(1)
        assert variant["expected_loss"] == pytest.approx(0, abs=1e-12)


# Input validation


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"counts": [(10, 11), (10, 1)]}, r"counts\[0\]: conversions \(11\) cannot exceed"),
        ({"counts": [(10, 1), (-1, 0)]}, r"counts\[1\]: visitors and conversions cannot be"),
        ({"counts": [(10, 1), (10, -1)]}, r"counts\[1\]: visitors and conversions cannot be"),
        ({"counts": [(10, 1), (10.5, 1)]}, r"counts\[1\] must be a \(visitors, conversions\)"),
        ({"counts": [(10, 1), (10, 1, 1)]}, r"counts\[1\] must be a \(visitors, conversions\)"),
        ({"counts": [(10, 1)]}, "at least two variants"),
        ({"counts": []}, "at least two variants"),
        ({"alpha": 0}, r"alpha must be between 0 and 1"),
        ({"alpha": 1}, r"alpha must be between 0 and 1"),
        ({"alpha": -0.05}, r"alpha must be between 0 and 1"),
        ({"method": "bayes"}, "method must be one of sequential, fixed, not 'bayes'"),
        ({"weights": [50, 50, 0]}, "weights must be positive numbers"),
        ({"weights": [50, 50]}, "weights has 2 values for 3 variants"),
        ({"sequential_tuning": 0}, "sequential_tuning must be a positive number"),
        ({"sequential_tuning": math.inf}, "sequential_tuning must be a positive number"),
        ({"weights": [1, 1, math.nan]}, "weights must be positive numbers"),
        ({"alpha": "0.05"}, r"alpha must be between 0 and 1"),
    ],
)
def test_invalid_input_is_refused_with_a_clear_message(arguments, message):
    arguments = {"counts": [(10, 1), (10, 2), (10, 3)], **arguments}
    with pytest.raises(ValueError, match=message):
        stats.analyze(**arguments)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"baseline_rate": 0}, "baseline_rate must be between 0 and 1"),
        ({"baseline_rate": 1.2}, "baseline_rate must be between 0 and 1"),
        ({"mde_relative": 0}, "mde_relative must be non-zero"),
        ({"mde_relative": 9}, r"keep the target rate in \(0, 1\)"),
        ({"alpha": 1.5}, "alpha must be between 0 and 1"),
        ({"power": 1}, "power must be between 0 and 1"),
        ({"method": "bayes"}, "method must be one of sequential, fixed"),
        ({"variants": 1}, "variants must be a whole number of at least 2"),
        ({"variants": 2.5}, "variants must be a whole number of at least 2"),
    ],
)
def test_invalid_sample_size_input_is_refused(arguments, message):
    arguments = {"baseline_rate": 0.1, "mde_relative": 0.1, **arguments}
    with pytest.raises(ValueError, match=message):
        stats.sample_size(**arguments)


# Revenue per visitor: means of per-visitor totals


def random_totals(rng, visitors):
    """Per-visitor totals: most visitors buy nothing, buyers spend a skewed amount."""
    buying = rng.random(visitors) < rng.uniform(0.01, 0.5)
    return np.where(buying, rng.lognormal(rng.uniform(1, 5), rng.uniform(0.2, 1.5), visitors), 0)


def random_revenue_arms(seed, count):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        ranges = [rng.integers(2, 30), rng.integers(30, 3000), rng.integers(3000, 50_000)]
        sizes = rng.choice(ranges, size=2)
        yield [random_totals(rng, int(size)) for size in sizes]


def moments(totals):
    return (len(totals), float(totals.sum()), float((totals * totals).sum()))


def reference_fieller_lift(control, variant, critical):
    """The lift interval of the means by test inversion, found numerically with scipy: the
    ratios r at which Welch's statistic of ``variant - r * control`` is +/- ``critical``
    (statistic and roots written independently of ``stats``); None while unbounded."""
    a, b = variant.var(ddof=1) / len(variant), control.var(ddof=1) / len(control)
    m_v, m_c = variant.mean(), control.mean()
    if m_c <= 0 or m_c / np.sqrt(b) <= critical:
        return None
    if a == 0 and m_v == 0:
        return -1.0, -1.0  # only r = 0 is within reach: the variant brought nothing

    def statistic(r):
        return (m_v - r * m_c) / np.sqrt(a + r * r * b)

    estimate, reach = m_v / m_c, 1.0
    while statistic(estimate + reach) > -critical:
        reach *= 2
    high = optimize.brentq(lambda r: statistic(r) + critical, estimate, estimate + reach,
                           xtol=1e-14, rtol=1e-14)
    reach = 1.0
    while statistic(estimate - reach) < critical:
        reach *= 2
    low = optimize.brentq(lambda r: statistic(r) - critical, estimate - reach, estimate,
                          xtol=1e-14, rtol=1e-14)
    return max(-1.0, low - 1), max(-1.0, high - 1)


def assert_lift_interval(result, reference):
    if reference is None:
        assert result["lift_ci_low"] is result["lift_ci_high"] is None
    else:
        assert close(result["lift_ci_low"], reference[0], 1e-6)
        assert close(result["lift_ci_high"], reference[1], 1e-6)


def test_fixed_mean_test_is_scipy_welch_t_test():
    rng = random.Random(1701)
    tested = 0
    for control, variant in random_revenue_arms(1701, 300):
        alpha = rng.choice(ALPHAS)
        result = stats.analyze_means([moments(control), moments(variant)], alpha=alpha,
                                     method="fixed")["variants"]
        if control.std() == 0 and variant.std() == 0:
            assert result[1]["p_value"] is None
            continue
        reference = scipy_stats.ttest_ind(variant, control, equal_var=False)
        low, high = reference.confidence_interval(1 - alpha)
        assert close(result[1]["p_value"], reference.pvalue)
        assert close(result[1]["difference"], variant.mean() - control.mean())
        assert close(result[1]["difference_ci_low"], low)
        assert close(result[1]["difference_ci_high"], high)
        critical = scipy_stats.t.ppf(1 - alpha / 2, reference.df)
        assert_lift_interval(result[1], reference_fieller_lift(control, variant, critical))
        for arm, totals in zip(result, (control, variant), strict=True):
            assert close(arm["mean"], totals.mean())
            if totals.std() > 0:
                arm_low, arm_high = scipy_stats.t.interval(
                    1 - alpha, len(totals) - 1, loc=totals.mean(), scale=scipy_stats.sem(totals))
                assert close(arm["ci_low"], arm_low) and close(arm["ci_high"], arm_high)
        tested += 1
    assert tested > 250


def test_sequential_mean_test_is_the_confidence_sequence_on_the_difference():
    """Delta-method standard error of the difference of means (each mean's variance over
    its visitors), in GrowthBook's confidence sequence: written independently with numpy."""
    rng = random.Random(1702)
    for control, variant in random_revenue_arms(1702, 200):
        alpha = rng.choice(ALPHAS)
        tuning = rng.choice([5000, 100_000])
        result = stats.analyze_means([moments(control), moments(variant)], alpha=alpha,
                                     sequential_tuning=tuning)["variants"][1]
        standard_error = np.sqrt(control.var(ddof=1) / len(control)
                                 + variant.var(ddof=1) / len(variant))
        if standard_error == 0:
            continue
        difference = variant.mean() - control.mean()
        half_width = reference_sequential_half_width(
            standard_error, len(control) + len(variant), alpha, tuning)
        assert close(result["difference_ci_low"], difference - half_width)
        assert close(result["difference_ci_high"], difference + half_width)
        if control.mean() > 0:
            assert close(result["lift"], difference / control.mean())
            assert_lift_interval(result, reference_fieller_lift(
                control, variant, half_width / standard_error))


@pytest.mark.parametrize("method", stats.METHODS)
def test_mean_p_value_agrees_with_its_interval_and_lift_stays_above_minus_100(method):
    rng = random.Random(1703)
    checked = 0
    for control, variant in random_revenue_arms(1703, 200):
        alpha = rng.choice(ALPHAS)
        result = stats.analyze_means([moments(control), moments(variant)], alpha=alpha,
                                     method=method)["variants"][1]
        if result["p_value"] is None:
            continue
        excludes_zero = result["difference_ci_low"] > 0 or result["difference_ci_high"] < 0
        assert (result["p_value"] < alpha) == excludes_zero
        if result["lift_ci_low"] is not None:
            assert -1 <= result["lift_ci_low"] <= result["lift"] <= result["lift_ci_high"]
            assert (result["lift_ci_low"] > 0 or result["lift_ci_high"] < 0) == excludes_zero
            checked += 1
    assert checked > 100


def test_the_lift_of_means_allows_for_the_control_s_uncertainty():
    """A control mean known only roughly widens the lift interval beyond the difference's
    interval divided by that mean (which treated it as exact), and a control mean not
    clearly above zero gives no bounded lift at all."""
    rng = np.random.default_rng(1704)
    control, variant = rng.exponential(10, 200), rng.exponential(13, 200)
    result = stats.analyze_means([moments(control), moments(variant)], method="fixed")
    row = result["variants"][1]
    naive = (row["difference_ci_low"] / control.mean(), row["difference_ci_high"] / control.mean())
    assert row["lift_ci_high"] - row["lift_ci_low"] > naive[1] - naive[0]
    noisy = np.zeros(200)
    noisy[:2] = [40.0, 3.0]
    unbounded = stats.analyze_means([moments(noisy), moments(variant)], method="fixed")
    row = unbounded["variants"][1]
    assert row["lift"] is not None and row["lift_ci_low"] is row["lift_ci_high"] is None


def test_mean_edge_cases_and_validation():
    nobody = stats.analyze_means([(0, 0.0, 0.0), (0, 0.0, 0.0)])["variants"]
    assert nobody[0]["mean"] == 0 and nobody[0]["ci_low"] is None
    assert nobody[1]["difference"] is None and nobody[1]["p_value_adjusted"] is None
    one = stats.analyze_means([(1, 5.0, 25.0), (10, 20.0, 80.0)])["variants"]
    assert one[1]["difference"] == pytest.approx(-3.0)
    assert one[1]["p_value"] is None  # one visitor has no variance
    flat = stats.analyze_means([(100, 0.0, 0.0), (100, 0.0, 0.0)])["variants"]
    assert flat[1]["p_value"] is None and flat[1]["lift"] is None
    three = stats.analyze_means([(1000, 900.0, 9000.0), (1000, 1400.0, 16000.0),
                                 (1000, 905.0, 9100.0)])["variants"]
    raw = [three[1]["p_value"], three[2]["p_value"]]
    _, expected, _, _ = multipletests(raw, method="holm")
    assert [three[1]["p_value_adjusted"], three[2]["p_value_adjusted"]] == pytest.approx(
        list(expected))
    for arms, message in [
        ([(10, 1.0, 1.0)], "at least two variants"),
        ([(10, 1.0, 1.0), (10, 1.0)], r"arms\[1\] must be"),
        ([(10, 1.0, 1.0), (-1, 1.0, 1.0)], r"arms\[1\]: visitors and sums must be"),
        ([(10, 1.0, 1.0), (10, math.nan, 1.0)], r"arms\[1\]: visitors and sums must be"),
        ([(10, 1.0, 1.0), (10, 1.0, -1.0)], r"arms\[1\]: visitors and sums must be"),
        ([(10, 1.0, 1.0), (10.5, 1.0, 1.0)], r"arms\[1\] must be"),
    ]:
        with pytest.raises(ValueError, match=message):
            stats.analyze_means(arms)
