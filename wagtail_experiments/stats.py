"""The statistics behind an experiment's results, in plain Python.

Pure standard library on purpose (no Django, no scipy): the same code runs in the admin, the
API and the command line, and the tests compare every figure with scipy and statsmodels.

``analyze()`` is the one place results are computed. For each variant it reports:

- **conversion rate**: the share of a variant's visitors who converted, with a range of
  plausible true rates (the *Wilson* interval, which stays sensible for small samples and for
  rates near 0 % or 100 %).
- **lift**: how much better (or worse) a variant converts than the control, relative to the
  control: +0.10 means "converts 10 % more". Its range comes from the *delta method*, the
  usual approximation of a ratio's uncertainty.
- **p-value**: how surprising a difference this large would be if the variant were no
  different from the control. Below ``alpha`` (5 % by default) counts as significant.
  Two methods exist:

  - ``"sequential"`` (default): an *always-valid* confidence sequence (Waudby-Smith et al.,
    the one GrowthBook uses). Results can be looked at every day, and stopping as soon as
    they look significant still keeps false alarms below ``alpha``.
  - ``"fixed"``: the classic two-proportion z-test. Valid only when you decide the sample
    size up front (see ``sample_size()``) and read the result once: peeking daily and
    stopping at the first significant day produces far more false alarms than ``alpha``.

- **adjusted p-value**: with several variants, one of them looks significant by luck more
  often; the Holm-Bonferroni correction compensates. Use it to decide with three or more
  variants.
- **chance to beat control** and **expected loss**: the Bayesian view, with a uniform prior
  on each rate. The first is the probability that the variant's true rate is higher; the
  second is how much conversion rate (in absolute terms, 0.002 = 0.2 points) you would lose
  on average by choosing the variant if it is in fact worse.
- **sample ratio mismatch (SRM)**: whether the visitor counts fit the configured weights.
  A mismatch (p < 0.001) means the assignment or tracking is broken, and the other figures
  should not be trusted until it is fixed.

Undefined figures are ``None`` rather than a misleading number: the lift when the control
has no conversions, a confidence interval with no visitors, and so on. Nothing here raises
on zero counts.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Sequence
from statistics import NormalDist

METHODS = ("sequential", "fixed")
DEFAULT_ALPHA = 0.05
# GrowthBook's default: the confidence sequence is tightest around 5,000 visitors in total.
DEFAULT_SEQUENTIAL_TUNING = 5000
DEFAULT_POWER = 0.8
# planned_sequential_tuning stops once another round moves it by less than this share.
_TUNING_SETTLED = 0.01
_TUNING_ROUNDS = 20
# detectable_effect looks for the first detectable drop on a grid of this many steps.
_DROP_STEPS = 100
# An SRM check runs on every look at the results, so it needs a strict threshold to avoid
# crying wolf; 0.001 is the industry's usual choice (GrowthBook, Optimizely, Statsig).
SRM_P_VALUE_THRESHOLD = 0.001
# Once every Beta parameter (conversions + 1 and non-conversions + 1 of both arms) reaches
# this size, the Bayesian figures come from a normal approximation with a skewness
# correction, measured within 1e-6 of the exact sums from here on (a plain normal curve can
# be 1e-4 off at this size when the arms differ in size). Below it, the exact sums are used;
# they are fast (see _beta_exceeds_sum), but their rounding grows with the counts.
NORMAL_APPROXIMATION_THRESHOLD = 100_000

_STANDARD_NORMAL = NormalDist()
# Stop adding terms of a sum once they cannot change the result in double precision.
_NEGLIGIBLE_FRACTION = 1e-17
# exp(-745) underflows to 0.0: a sequential p-value that small is reported as 0.0.
_LARGEST_NEG_LOG_ALPHA = 745.0
_ROOT_TOLERANCE = 1e-13
_GAMMA_EPSILON = 1e-15
_GAMMA_MAX_ITERATIONS = 10_000
_TINY = 1e-300
# From here on, four terms of Stirling's series give lgamma to better than 1e-15.
_STIRLING_FROM = 20.0
# exp(709) is near the largest float: an interval's upper end beyond it is shown as that.
_LARGEST_LOG_RATIO = 709.0
# Beyond this many degrees of freedom Student's t is the normal curve to better than 1e-8.
_T_AS_NORMAL_FROM = 1e8


def analyze(
    counts: Sequence[tuple[int, int]],
    weights: Sequence[float] | None = None,
    alpha: float = DEFAULT_ALPHA,
    method: str = "sequential",
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    higher_is_better: bool = True,
) -> dict:
    """Every figure of an experiment's results, from its ``(visitors, conversions)`` counts.

    ``counts`` lists the control first, then the variants. ``weights`` are the configured
    traffic shares in any positive scale (default: equal), used by the SRM check only.
    ``alpha`` is the accepted false-alarm rate: intervals are at ``1 - alpha``.

    Returns ``{"variants": [...], "srm_p_value": float, "srm_detected": bool}``. Each
    variant holds ``visitors``, ``conversions``, ``conversion_rate``, ``ci_low``, ``ci_high``
    (``None`` with no visitors); every variant but the control also ``lift``,
    ``lift_ci_low``, ``lift_ci_high``, ``p_value``, ``p_value_adjusted``,
    ``chance_to_beat_control`` and ``expected_loss`` (see the module docstring).
    ``higher_is_better=False`` is for goals where fewer conversions are better (say,
    unsubscribes): "beating" the control then means converting less, and the expected
    loss counts the conversions added.

    When exactly one arm has no conversions, the p-value and the interval (for both
    methods) come from the exact conditional test of the rate ratio instead: a variant
    without conversions has a lift of -100 % and an interval from -100 % up.

    ``None`` marks what cannot be computed yet: the lift and its interval without
    conversions in the control; the interval and p-value when nobody or everybody
    converted in both arms; and everything comparative while an arm has no visitors.
    """
    arms = _validated_counts(counts)
    _validate_alpha(alpha)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if not (_is_number(sequential_tuning) and 0 < sequential_tuning < math.inf):
        raise ValueError("sequential_tuning must be a positive number")
    shares = _validated_shares(weights, len(arms))

    variants = []
    for visitors, conversions in arms:
        ci_low, ci_high = wilson_interval(visitors, conversions, alpha)
        variants.append(
            {
                "visitors": visitors,
                "conversions": conversions,
                "conversion_rate": conversions / visitors if visitors else 0.0,
                "ci_low": ci_low,
                "ci_high": ci_high,
            }
        )

    control = arms[0]
    for variant, arm in zip(variants[1:], arms[1:], strict=True):
        variant.update(
            _comparison(control, arm, alpha, method, sequential_tuning, higher_is_better)
        )
    adjusted = holm_adjust([variant["p_value"] for variant in variants[1:]])
    for variant, p_value_adjusted in zip(variants[1:], adjusted, strict=True):
        variant["p_value_adjusted"] = p_value_adjusted

    srm_p_value = _sample_ratio_mismatch_p_value([visitors for visitors, _ in arms], shares)
    return {
        "variants": variants,
        "srm_p_value": srm_p_value,
        "srm_detected": srm_p_value < SRM_P_VALUE_THRESHOLD,
    }


def analyze_means(
    arms: Sequence[tuple[int, float, float]],
    alpha: float = DEFAULT_ALPHA,
    method: str = "sequential",
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> dict:
    """Every figure of a mean-per-visitor metric (revenue per visitor, say), from each arm's
    ``(visitors, sum of the visitors' totals, sum of the squares of those totals)``.

    ``arms`` lists the control first. A visitor's total is what all their events of the goal
    added up to, 0 for visitors without any, so the sums cover every exposed visitor.

    Returns ``{"variants": [...]}``. Each arm holds ``visitors``, ``mean``, ``ci_low`` and
    ``ci_high`` (Student's t interval of the mean); every arm but the control also
    ``difference`` (its mean minus the control's) with ``difference_ci_low`` and
    ``difference_ci_high``, ``p_value``, ``p_value_adjusted`` (Holm), ``lift`` (relative to
    the control's mean) with ``lift_ci_low`` and ``lift_ci_high`` (Fieller's interval of
    the ratio of the means, from the same test, never below -100 %; None while the
    control's mean is not clearly above zero). One test gives the p-value and the
    intervals: Welch's t-test for ``"fixed"`` (as ``scipy.stats.ttest_ind(equal_var=False)``),
    the confidence sequence on the difference for ``"sequential"``; so ``p_value < alpha``
    exactly when the interval excludes zero. ``None`` marks what cannot be computed: arms of
    fewer than two visitors, or no variation in either arm.
    """
    _validate_alpha(alpha)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if not (_is_number(sequential_tuning) and 0 < sequential_tuning < math.inf):
        raise ValueError("sequential_tuning must be a positive number")
    moments = _validated_moments(arms)
    variants = []
    for visitors, mean, variance in moments:
        ci_low = ci_high = None
        if visitors >= 2:
            half_width = _student_t_quantile(1 - alpha / 2, visitors - 1) * math.sqrt(
                variance / visitors
            )
            ci_low, ci_high = mean - half_width, mean + half_width
        variants.append({"visitors": visitors, "mean": mean, "ci_low": ci_low,
                         "ci_high": ci_high})
    control = moments[0]
    for variant, arm in zip(variants[1:], moments[1:], strict=True):
        variant.update(_mean_comparison(control, arm, alpha, method, sequential_tuning))
    adjusted = holm_adjust([variant["p_value"] for variant in variants[1:]])
    for variant, p_value_adjusted in zip(variants[1:], adjusted, strict=True):
        variant["p_value_adjusted"] = p_value_adjusted
    return {"variants": variants}


def _validated_moments(arms) -> list[tuple[int, float, float]]:
    """(visitors, mean, sample variance) per arm, from (visitors, sum, sum of squares)."""
    if len(arms) < 2:
        raise ValueError("arms needs at least two variants: the control first, then one more")
    moments = []
    for position, arm in enumerate(arms):
        try:
            visitors, total, squares = arm
            visitors = operator.index(visitors)
        except (TypeError, ValueError):
            raise ValueError(
                f"arms[{position}] must be (visitors, sum, sum of squares), visitors whole"
            ) from None
        if not (visitors >= 0 and _is_number(total) and _is_number(squares)
                and math.isfinite(total) and math.isfinite(squares) and squares >= 0):
            raise ValueError(f"arms[{position}]: visitors and sums must be finite, "
                             "the sum of squares not negative")
        if visitors == 0:
            moments.append((0, 0.0, 0.0))
            continue
        mean = total / visitors
        # Rounding of the running sums can leave a hair below zero: no variation at all.
        variance = max(0.0, (squares - total * mean) / (visitors - 1)) if visitors > 1 else 0.0
        moments.append((visitors, mean, variance))
    return moments


def _mean_comparison(control, variant, alpha, method, tuning) -> dict:
    (control_visitors, control_mean, control_variance) = control
    (visitors, mean, variance) = variant
    figures = dict.fromkeys(("difference", "difference_ci_low", "difference_ci_high",
                             "p_value", "lift", "lift_ci_low", "lift_ci_high"))
    if control_visitors == 0 or visitors == 0:
        return figures
    difference = mean - control_mean
    figures["difference"] = difference
    if control_mean > 0:
        figures["lift"] = difference / control_mean
    if control_visitors < 2 or visitors < 2:
        return figures
    control_share, share = control_variance / control_visitors, variance / visitors
    standard_error = math.sqrt(control_share + share)
    if standard_error == 0:
        return figures
    if method == "fixed":
        # Welch-Satterthwaite degrees of freedom.
        degrees = (control_share + share) ** 2 / (
            control_share**2 / (control_visitors - 1) + share**2 / (visitors - 1)
        )
        half_width = _student_t_quantile(1 - alpha / 2, degrees) * standard_error
        p_value = _student_t_two_sided(difference / standard_error, degrees)
    else:
        total_visitors = control_visitors + visitors
        half_width = _sequential_half_width(
            standard_error, total_visitors, -math.log(alpha), tuning
        )
        p_value = _sequential_p_value(difference, standard_error, total_visitors, tuning)
    low, high = difference - half_width, difference + half_width
    figures.update(difference_ci_low=low, difference_ci_high=high, p_value=p_value)
    if control_mean > 0:
        figures["lift_ci_low"], figures["lift_ci_high"] = _lift_of_means_interval(
            mean, control_mean, share, control_share, half_width / standard_error
        )
    return figures


def _lift_of_means_interval(mean, control_mean, variance, control_variance, critical):
    """Fieller's interval of ``mean / control_mean - 1``: every ratio r for which the
    difference ``mean - r * control_mean`` is within ``critical`` standard errors of zero
    (``variance`` and ``control_variance`` are each mean's squared standard error).

    At r = 1 that is the difference's own test, so the lift interval excludes 0 exactly
    when the difference's excludes 0; unlike dividing the difference's interval by the
    control's mean, it allows for the control's mean being uncertain too. ``(None, None)``
    while the control's mean is itself within ``critical`` standard errors of zero: the
    ratio then has no bounded interval. Never below -1 (-100 %)."""
    critical_squared = critical * critical
    curvature = control_mean * control_mean - critical_squared * control_variance
    if curvature <= 0:
        return None, None
    # The roots of (mean - r * control_mean)^2 = critical^2 (variance + r^2 control_variance).
    centre = mean * control_mean
    spread = math.sqrt(max(0.0, critical_squared * (
        variance * control_mean * control_mean + control_variance * mean * mean
        - critical_squared * variance * control_variance)))
    low, high = (centre - spread) / curvature, (centre + spread) / curvature
    return max(-1.0, low - 1), max(-1.0, high - 1)


def _student_t_two_sided(t: float, degrees: float) -> float:
    """P(|T| >= |t|) for Student's t with ``degrees`` degrees of freedom."""
    if degrees > _T_AS_NORMAL_FROM:
        return math.erfc(abs(t) / math.sqrt(2))
    return _regularized_incomplete_beta(degrees / 2, 0.5, degrees / (degrees + t * t))


def _student_t_quantile(probability: float, degrees: float) -> float:
    """The t with P(T <= t) = ``probability`` (> 0.5), by bisection on the two-sided tail."""
    if degrees > _T_AS_NORMAL_FROM:
        return _STANDARD_NORMAL.inv_cdf(probability)
    tail = 2 * (1 - probability)
    low, high = 0.0, max(1.0, _STANDARD_NORMAL.inv_cdf(probability))
    while _student_t_two_sided(high, degrees) > tail:
        low, high = high, high * 2
    while high - low > _ROOT_TOLERANCE * high:
        middle = (low + high) / 2
        if _student_t_two_sided(middle, degrees) > tail:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), Numerical Recipes' betai: a continued fraction on the faster side."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1 - x) / b


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Modified Lentz evaluation of the incomplete beta function's continued fraction."""
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) >= _TINY else _TINY)
    fraction = d
    for m in range(1, _GAMMA_MAX_ITERATIONS):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) >= _TINY else _TINY)
            c = 1 + numerator / c
            c = c if abs(c) >= _TINY else _TINY
            fraction *= c * d
        if abs(c * d - 1) < _GAMMA_EPSILON:
            break
    return fraction


def sample_size(
    baseline_rate: float,
    mde_relative: float,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
    *,
    method: str = "sequential",
    variants: int = 2,
    sequential_tuning: float | None = None,
) -> int:
    """Visitors needed in EACH variant (the control too) to detect a lift of ``mde_relative``.

    ``baseline_rate`` is the control's expected conversion rate; ``mde_relative`` the
    smallest relative lift worth detecting (0.1 = 10 % more conversions, -0.1 = 10 % fewer);
    ``power`` the chance of detecting it if it is real; ``variants`` how many arms the
    experiment has, the control included. Matches what ``analyze`` tests:

    - the log rate ratio, at ``alpha / (variants - 1)`` when there are several challengers
      (the first step of the Holm correction ``analyze`` applies);
    - for ``"fixed"``, the visitors at which the single look has that power;
    - for ``"sequential"``, the visitors at which the confidence sequence excludes zero
      with that probability (counting only that last look, so it errs on the safe side);
      ``sequential_tuning`` defaults to ``planned_sequential_tuning(...)``.
    """
    _validate_planning(baseline_rate, alpha, power, method, variants)
    target_rate = _target_rate(baseline_rate, mde_relative)
    corrected_alpha = alpha / (variants - 1)
    if method == "sequential" and sequential_tuning is None:
        sequential_tuning = planned_sequential_tuning(
            baseline_rate, mde_relative, alpha, power, variants=variants
        )
    return _visitors_per_arm(
        baseline_rate, target_rate, corrected_alpha, power, method, sequential_tuning
    )


def planned_sequential_tuning(
    baseline_rate: float,
    mde_relative: float,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
    *,
    variants: int = 2,
) -> int:
    """The tuning of the confidence sequence that suits an experiment: its planned number
    of visitors in one comparison (the control and one variant together).

    The sequence is narrowest around that many visitors, so it is the sequential sample
    size for this tuning; found by iterating from the fixed-horizon figure, which it
    settles on within a few rounds.
    """
    _validate_planning(baseline_rate, alpha, power, "sequential", variants)
    target_rate = _target_rate(baseline_rate, mde_relative)
    corrected_alpha = alpha / (variants - 1)
    tuning = 2 * _visitors_per_arm(baseline_rate, target_rate, corrected_alpha, power, "fixed")
    for _ in range(_TUNING_ROUNDS):
        planned = 2 * _visitors_per_arm(
            baseline_rate, target_rate, corrected_alpha, power, "sequential", tuning
        )
        if abs(planned - tuning) <= _TUNING_SETTLED * tuning:
            return planned
        tuning = planned
    return tuning


def detectable_effect(
    baseline_rate: float,
    visitors_per_variant: int,
    alpha: float = DEFAULT_ALPHA,
    power: float = DEFAULT_POWER,
    *,
    method: str = "sequential",
    variants: int = 2,
    sequential_tuning: float | None = None,
    higher_is_better: bool = True,
) -> float | None:
    """The smallest relative lift that ``visitors_per_variant`` visitors in each arm detect
    with ``power`` (the inverse of ``sample_size``): "what can this test detect by Friday?".
    With ``higher_is_better=False``, the smallest drop (a negative lift) instead.

    ``sequential_tuning`` defaults to the visitors of one comparison (``2 *
    visitors_per_variant``), as an experiment planned for that many would have. ``None``
    when no lift is detectable with that many visitors, not even one that takes the rate
    to 100 %.
    """
    _validate_planning(baseline_rate, alpha, power, method, variants)
    if not (_is_number(visitors_per_variant) and visitors_per_variant >= 0):
        raise ValueError("visitors_per_variant must be a non-negative number")
    if visitors_per_variant == 0:
        return None
    if sequential_tuning is None:
        sequential_tuning = 2 * visitors_per_variant
    corrected_alpha = alpha / (variants - 1)
    sign = 1 if higher_is_better else -1
    # Just short of a 100 % rate, or of a 0 % one: the log ratio's variance vanishes or
    # grows without bound there.
    highest = 1 / baseline_rate - 1 if higher_is_better else 1.0

    def detectable(size):
        return _detection_margin(
            baseline_rate, baseline_rate * (1 + sign * size), visitors_per_variant,
            corrected_alpha, power, method, sequential_tuning,
        ) >= 0

    if higher_is_better:
        # Larger lifts are ever easier to detect: the largest one bounds the search.
        low, high = 0.0, highest * (1 - 1e-9)
        if not detectable(high):
            return None
    else:
        # Drops towards 0 % grow ever noisier on the log scale: the first detectable size
        # on a grid bounds the search instead.
        sizes = [step / _DROP_STEPS for step in range(1, _DROP_STEPS)]
        high = next((size for size in sizes if detectable(size)), None)
        if high is None:
            return None
        low = high - 1 / _DROP_STEPS
    while high - low > _ROOT_TOLERANCE * max(1.0, high):
        middle = (low + high) / 2
        if detectable(middle):
            high = middle
        else:
            low = middle
    return sign * high


def _visitors_per_arm(baseline_rate, target_rate, alpha, power, method, tuning=None) -> int:
    """The smallest whole number of visitors per arm whose detection margin is >= 0."""
    spread = (1 - baseline_rate) / baseline_rate + (1 - target_rate) / target_rate
    effect = abs(math.log(target_rate / baseline_rate))
    z_power = _STANDARD_NORMAL.inv_cdf(power)
    if method == "fixed":
        z_alpha = _STANDARD_NORMAL.inv_cdf(1 - alpha / 2)
        return math.ceil(spread * (z_alpha + z_power) ** 2 / effect**2)
    # se * (width factor + z_power) falls as the sample grows: search by doubling, then
    # bisect on whole numbers.
    low, high = 1, 2
    while _detection_margin(baseline_rate, target_rate, high, alpha, power, method, tuning) < 0:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if _detection_margin(baseline_rate, target_rate, middle, alpha, power, method, tuning) < 0:
            low = middle
        else:
            high = middle
    return high


def _detection_margin(baseline_rate, target_rate, visitors, alpha, power, method, tuning):
    """How far the true log ratio lies beyond the interval's half-width plus ``power``'s
    quantile of noise, with ``visitors`` per arm: >= 0 means detected with that power."""
    spread = (1 - baseline_rate) / baseline_rate + (1 - target_rate) / target_rate
    standard_error = math.sqrt(spread / visitors)
    if method == "fixed":
        half_width = _STANDARD_NORMAL.inv_cdf(1 - alpha / 2) * standard_error
    else:
        half_width = _sequential_half_width(standard_error, 2 * visitors, -math.log(alpha), tuning)
    effect = abs(math.log(target_rate / baseline_rate))
    return effect - half_width - _STANDARD_NORMAL.inv_cdf(power) * standard_error


def _target_rate(baseline_rate, mde_relative):
    target_rate = baseline_rate * (1 + mde_relative)
    if not _is_number(mde_relative) or mde_relative == 0 or not 0 < target_rate < 1:
        raise ValueError("mde_relative must be non-zero and keep the target rate in (0, 1)")
    return target_rate


def _validate_planning(baseline_rate, alpha, power, method, variants) -> None:
    if not (_is_number(baseline_rate) and 0 < baseline_rate < 1):
        raise ValueError("baseline_rate must be between 0 and 1 (exclusive)")
    _validate_alpha(alpha)
    if not (_is_number(power) and 0 < power < 1):
        raise ValueError("power must be between 0 and 1 (exclusive)")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if isinstance(variants, bool) or not isinstance(variants, int) or variants < 2:
        raise ValueError("variants must be a whole number of at least 2 (the control and one more)")


def wilson_interval(
    visitors: int, conversions: int, alpha: float = DEFAULT_ALPHA
) -> tuple[float | None, float | None]:
    """The range of plausible true conversion rates (Wilson score interval at 1 - alpha);
    ``analyze`` gives it per variant, the results' daily series per day.

    ``(None, None)`` with no visitors: there is no data to give a range for.
    """
    if visitors == 0:
        return None, None
    z = _STANDARD_NORMAL.inv_cdf(1 - alpha / 2)
    rate = conversions / visitors
    z_squared_per_visitor = z * z / visitors
    centre = (rate + z_squared_per_visitor / 2) / (1 + z_squared_per_visitor)
    half_width = (
        z
        / (1 + z_squared_per_visitor)
        * math.sqrt(rate * (1 - rate) / visitors + z_squared_per_visitor / (4 * visitors))
    )
    # The interval always holds the observed rate and lies within [0, 1]; rounding must not
    # make a bound cross either (at 0 or all conversions the bound is the rate itself).
    return min(max(0.0, centre - half_width), rate), max(min(1.0, centre + half_width), rate)


def _sequential_half_width(
    standard_error: float, total_visitors: int, neg_log_alpha: float, tuning: float
) -> float:
    """Half-width of the always-valid confidence sequence around an estimate.

    Waudby-Smith et al.'s asymptotic confidence sequence, as GrowthBook computes it: wider
    than a one-off interval, so that it stays valid however often it is looked at.
    """
    # Taking -ln(alpha) rather than alpha lets the p-value search go below the smallest
    # float. With x = N rho^2, the published se * sqrt(N) * sqrt(2 (x + 1) / (N^2 rho^2) *
    # ln(sqrt(x + 1) / alpha)) simplifies to the expression below.
    rho_squared = (2 * neg_log_alpha + math.log1p(2 * neg_log_alpha)) / tuning
    x = total_visitors * rho_squared
    return standard_error * math.sqrt(2 * (1 + 1 / x) * (0.5 * math.log1p(x) + neg_log_alpha))


def _sequential_p_value(
    effect: float, standard_error: float, total_visitors: int, tuning: float
) -> float:
    """The smallest alpha whose confidence sequence excludes zero.

    So ``p_value < alpha`` exactly when the interval reported at ``alpha`` excludes zero.
    """
    # The half-width grows strictly with -ln(alpha) (rho moves with alpha too, but
    # d(width)/d(-ln alpha) > 0 follows from ln(1 + u) >= u / (1 + u)), so the crossing
    # point is unique and bisection finds it. As alpha -> 1 the half-width tends to
    # se * sqrt(1 + tuning / (2 N)), not zero: an effect inside that is never significant.
    target = abs(effect)
    if target <= standard_error * math.sqrt(1 + tuning / (2 * total_visitors)):
        return 1.0
    if _sequential_half_width(standard_error, total_visitors, _LARGEST_NEG_LOG_ALPHA, tuning) < (
        target
    ):
        return 0.0
    low, high = 0.0, _LARGEST_NEG_LOG_ALPHA
    while high - low > _ROOT_TOLERANCE * max(1.0, low):
        middle = (low + high) / 2
        if _sequential_half_width(standard_error, total_visitors, middle, tuning) < target:
            low = middle
        else:
            high = middle
    return math.exp(-(low + high) / 2)


def holm_adjust(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in the input order (``analyze`` adjusts across
    variants; the results adjust secondary goals across goals and variants with it).

    A ``None`` (a variant that cannot be tested yet) stays ``None`` but still counts as one
    of the comparisons: the variants were planned, so leaving one out would make the others
    look more significant than they are.
    """
    tested = sorted(
        (p_value, index) for index, p_value in enumerate(p_values) if p_value is not None
    )
    comparisons = len(p_values)
    adjusted: list[float | None] = [None] * comparisons
    running_max = 0.0
    for rank, (p_value, index) in enumerate(tested):
        running_max = max(running_max, min(1.0, (comparisons - rank) * p_value))
        adjusted[index] = running_max
    return adjusted


def _chance_to_beat_control(
    control_visitors: int, control_conversions: int, visitors: int, conversions: int
) -> float:
    """Probability that the variant's true rate beats the control's (uniform priors)."""
    control = _posterior(control_visitors, control_conversions)
    variant = _posterior(visitors, conversions)
    if _normal_approximation_applies(control, variant):
        mean, sd, skewness = _approximate_difference(variant, control)
        z = mean / sd
        # First-order Edgeworth expansion: the normal curve, corrected for the lopsidedness
        # that Beta curves keep even at large counts.
        chance = _STANDARD_NORMAL.cdf(z) + skewness / 6 * (z * z - 1) * _STANDARD_NORMAL.pdf(z)
        return min(1.0, max(0.0, chance))
    return _beta_exceeds(*variant, *control)


def _expected_loss(
    control_visitors: int, control_conversions: int, visitors: int, conversions: int
) -> float:
    """Average conversion rate lost by choosing the variant, counting only when it is worse.

    E[max(control rate - variant rate, 0)] under the same posteriors, in absolute rate units.
    """
    control = _posterior(control_visitors, control_conversions)
    variant = _posterior(visitors, conversions)
    if _normal_approximation_applies(control, variant):
        mean, sd, skewness = _approximate_difference(control, variant)
        z = mean / sd
        # E[max(D, 0)] for a normal D, plus the same Edgeworth skewness term as above.
        density = _STANDARD_NORMAL.pdf(z)
        loss = mean * _STANDARD_NORMAL.cdf(z) + sd * density * (1 - skewness / 6 * z)
        return max(0.0, loss)
    # E[(c - v)+] = E[c 1{c > v}] - E[v 1{c > v}], and E[c 1{c > v}] = mean(c) P(c' > v)
    # where c' has one more conversion than c (the Beta density times x is the next Beta).
    (control_a, control_b), (variant_a, variant_b) = control, variant
    control_mean = control_a / (control_a + control_b)
    variant_mean = variant_a / (variant_a + variant_b)
    loss = control_mean * _beta_exceeds(
        control_a + 1, control_b, variant_a, variant_b
    ) - variant_mean * _beta_exceeds(control_a, control_b, variant_a + 1, variant_b)
    # The two terms nearly cancel for a clearly better variant; rounding must not go below 0.
    return max(0.0, loss)


def _sample_ratio_mismatch_p_value(visitors: Sequence[int], shares: Sequence[float]) -> float:
    """p-value of Pearson's chi-square test of the visitor counts against the shares.

    Small means the split is unlikely to come from the configured weights: something
    (assignment, tracking, bots, redirects) loses or adds visitors to some variants.
    """
    total = sum(visitors)
    if total == 0:
        return 1.0
    statistic = 0.0
    for observed, share in zip(visitors, shares, strict=True):
        expected = total * share
        statistic += (observed - expected) ** 2 / expected
    return _chi_square_survival(statistic, len(visitors) - 1)


def _chi_square_survival(statistic: float, degrees_of_freedom: int) -> float:
    """P(chi-square with ``degrees_of_freedom`` >= ``statistic``)."""
    return _regularized_upper_gamma(degrees_of_freedom / 2, statistic / 2)


def _comparison(
    control: tuple[int, int],
    variant: tuple[int, int],
    alpha: float,
    method: str,
    tuning: float,
    higher_is_better: bool = True,
) -> dict:
    control_visitors, control_conversions = control
    visitors, conversions = variant
    both_seen = control_visitors > 0 and visitors > 0
    lift = None
    if both_seen and control_conversions > 0:
        lift = (conversions / visitors) / (control_conversions / control_visitors) - 1
    log_ratio, standard_error = _log_rate_ratio(control, variant)

    lift_ci_low = lift_ci_high = p_value = None
    # Without conversions in an arm the log ratio is infinite, and with everybody
    # converting in both arms its standard error is zero. An arm without conversions
    # against one with some is still tested, exactly (see ``_without_conversions``), so
    # that a variant which stops all conversions is not "untestable" but clearly worse.
    if both_seen and (control_conversions == 0) != (conversions == 0):
        p_value, lift_ci_low, lift_ci_high = _without_conversions(control, variant, alpha)
    if standard_error:
        total_visitors = control_visitors + visitors
        if method == "fixed":
            half_width = _STANDARD_NORMAL.inv_cdf(1 - alpha / 2) * standard_error
            # erfc keeps tiny p-values accurate, where 1 - cdf would round to 0.
            p_value = math.erfc(abs(log_ratio) / standard_error / math.sqrt(2))
        else:
            half_width = _sequential_half_width(
                standard_error, total_visitors, -math.log(alpha), tuning
            )
            p_value = _sequential_p_value(log_ratio, standard_error, total_visitors, tuning)
        lift_ci_low = _relative(log_ratio - half_width)
        lift_ci_high = _relative(log_ratio + half_width)

    # "Beating" the control when fewer conversions are better is converting less: the
    # same figures with the arms' roles swapped.
    better, worse = (control, variant) if higher_is_better else (variant, control)
    return {
        "lift": lift,
        "lift_ci_low": lift_ci_low,
        "lift_ci_high": lift_ci_high,
        "p_value": p_value,
        # Without visitors in an arm the posterior is only the prior: a "90 % chance to
        # beat control" for a variant nobody saw would be misleading.
        "chance_to_beat_control": _chance_to_beat_control(*better, *worse)
        if both_seen
        else None,
        "expected_loss": _expected_loss(*better, *worse) if both_seen else None,
    }


def _log_rate_ratio(
    control: tuple[int, int], variant: tuple[int, int]
) -> tuple[float | None, float | None]:
    """ln(variant rate / control rate) and its standard error (delta method); ``(None,
    None)`` while an arm has no conversions (the ratio is then 0 or undefined)."""
    (control_visitors, control_conversions), (visitors, conversions) = control, variant
    if not (control_conversions and conversions):
        return None, None
    log_ratio = math.log(conversions / visitors) - math.log(control_conversions / control_visitors)
    # Var(ln p) is about (1 - p) / (n p) = 1 / conversions - 1 / visitors, in each arm.
    variance = (1 / conversions - 1 / visitors) + (1 / control_conversions - 1 / control_visitors)
    return log_ratio, math.sqrt(max(variance, 0.0))


def _without_conversions(
    control: tuple[int, int], variant: tuple[int, int], alpha: float
) -> tuple[float, float | None, float | None]:
    """p-value and lift interval when exactly one arm has no conversions: the exact
    conditional test of the rate ratio, with the central two-sided p-value (twice the
    one-sided one, as scipy's ``binomtest(..., alternative="less")`` doubled), and the
    interval that inverts it. With equal arms that is statsmodels' ``test_poisson_2indep(
    method="exact-cond")``; with unequal ones statsmodels' two-sided p-value sums the
    tables as unlikely as the observed one instead, which can be up to half of ours: ours is
    the one its interval inverts, and errs on the cautious side.

    Given the k conversions of both arms, those of the variant are binomial, each in the
    variant with chance n_v r / (n_v r + n_c) for a rate ratio r. All k fell in one arm:
    the two-sided p-value is twice the chance of that at r = 1 (capped at 1), and the
    interval holds the ratios at which that chance is at least alpha / 2 (Clopper-Pearson's
    bound of the binomial share, turned into a ratio). So again p < alpha exactly when
    the interval excludes a lift of 0. A variant without conversions gets the lift
    interval [-100 %, upper bound]; against a control without conversions the lift is
    undefined (a ratio to zero) and so is its interval, but the p-value stands.
    """
    (control_visitors, control_conversions), (visitors, conversions) = control, variant
    converted = control_conversions + conversions
    total = control_visitors + visitors
    # The share of conversions each arm takes at r = 1 is its share of the visitors.
    other_share = (control_visitors if conversions == 0 else visitors) / total
    p_value = min(1.0, 2 * math.exp(converted * math.log(other_share)))
    if conversions:
        return p_value, None, None
    # Clopper-Pearson's upper bound of the variant's share when it took none of k.
    share = -math.expm1(math.log(alpha / 2) / converted)
    ratio = share * control_visitors / ((1 - share) * visitors)
    return p_value, -1.0, ratio - 1


def _relative(log_ratio: float) -> float:
    """A log rate ratio as a relative lift: ln 1.1 -> +0.10. Always above -1 (-100 %)."""
    return math.expm1(min(log_ratio, _LARGEST_LOG_RATIO))


def _posterior(visitors: int, conversions: int) -> tuple[int, int]:
    """Beta posterior parameters of a rate, from a uniform Beta(1, 1) prior."""
    return 1 + conversions, 1 + visitors - conversions


def _normal_approximation_applies(control: tuple[int, int], variant: tuple[int, int]) -> bool:
    return min(*control, *variant) >= NORMAL_APPROXIMATION_THRESHOLD


def _approximate_difference(
    first: tuple[int, int], second: tuple[int, int]
) -> tuple[float, float, float]:
    """Mean, standard deviation and skewness of first - second, two Beta-distributed rates."""
    cumulants = []
    for a, b in (first, second):
        total = a + b
        mean = a / total
        variance = mean * (1 - mean) / (total + 1)
        skewness = 2 * (b - a) * math.sqrt(total + 1) / ((total + 2) * math.sqrt(a * b))
        cumulants.append((mean, variance, skewness * variance**1.5))
    (first_mean, first_variance, first_third), (second_mean, second_variance, second_third) = (
        cumulants
    )
    sd = math.sqrt(first_variance + second_variance)
    return first_mean - second_mean, sd, (first_third - second_third) / sd**3


def _beta_exceeds(a1: int, b1: int, a2: int, b2: int) -> float:
    """P(X > Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2), all parameters whole numbers.

    Evan Miller's closed form is a sum with ``a1`` terms. The same probability is also
    1 - P(Y > X) (``a2`` terms) or, flipping rates to non-rates, P(1 - Y > 1 - X) (``b2``
    terms) and 1 - P(1 - X > 1 - Y) (``b1`` terms); the shortest is used.
    """
    shortest = min(a1, a2, b1, b2)
    if shortest == a1:
        return _beta_exceeds_sum(a1, b1, a2, b2)
    if shortest == a2:
        return 1.0 - _beta_exceeds_sum(a2, b2, a1, b1)
    if shortest == b2:
        return _beta_exceeds_sum(b2, a2, b1, a1)
    return 1.0 - _beta_exceeds_sum(b1, a1, b2, a2)


def _beta_exceeds_sum(a1: int, b1: int, a2: int, b2: int) -> float:
    """Evan Miller's sum for P(X > Y), X ~ Beta(a1, b1), Y ~ Beta(a2, b2), a1 whole.

    Term i (0 <= i < a1) is B(a2 + i, b1 + b2) / ((b1 + i) B(1 + i, b1) B(a2, b2)). The
    terms rise to one peak and fall again, and the ratio of neighbours is a simple fraction,
    so the sum starts at the peak and walks outwards until the terms stop mattering: a few
    hundred steps even for millions of visitors, instead of one lgamma-heavy term per
    conversion.
    """
    b_sum = a2 + b1 + b2
    # term(i + 1) / term(i) = (a2 + i)(b1 + i) / ((a2 + b1 + b2 + i)(1 + i)), which is
    # above 1 exactly while i is below peak_bound.
    peak_bound = (a2 * b1 - a2 - b1 - b2) / (b2 + 1)
    peak = min(max(math.ceil(peak_bound), 0), a1 - 1)

    # Terms relative to the peak's, so nothing underflows however small the result.
    total = 1.0
    term = 1.0
    for i in range(peak, a1 - 1):
        term *= (a2 + i) * (b1 + i) / ((b_sum + i) * (1 + i))
        total += term
        if term < _NEGLIGIBLE_FRACTION * total:
            break
    term = 1.0
    for i in range(peak - 1, -1, -1):
        term *= (b_sum + i) * (1 + i) / ((a2 + i) * (b1 + i))
        total += term
        if term < _NEGLIGIBLE_FRACTION * total:
            break
    # The peak term's logarithm, regrouped from its three Beta functions so that the large
    # lgamma values (millions of visitors) cancel inside _lgamma_increase, not after it.
    log_peak_term = (
        _lgamma_increase(b1, peak)
        + _lgamma_increase(a2, peak)
        - math.lgamma(peak + 1)
        - _lgamma_increase(b1 + b2, a2 + peak)
        + _lgamma_increase(b2, a2)
    )
    return min(1.0, math.exp(log_peak_term + math.log(total)))


def _lgamma_increase(x: float, h: float) -> float:
    """lgamma(x + h) - lgamma(x), accurate even when both lgamma values are huge.

    Subtracting math.lgamma values of about 2e10 (a billion visitors) keeps only ~1e-6 of
    absolute precision; Stirling's series for the difference keeps ~1e-15 relative.
    """
    if x < _STIRLING_FROM:
        return math.lgamma(x + h) - math.lgamma(x)
    y = x + h
    return (
        (x - 0.5) * math.log1p(h / x)
        + h * (math.log(y) - 1)
        + _stirling_correction(y)
        - _stirling_correction(x)
    )


def _stirling_correction(x: float) -> float:
    """lgamma(x) - ((x - 1/2) ln x - x + ln(2 pi) / 2), for x >= _STIRLING_FROM."""
    inverse_square = 1 / (x * x)
    return (
        1 / 12 - inverse_square * (1 / 360 - inverse_square * (1 / 1260 - inverse_square / 1680))
    ) / x


def _regularized_upper_gamma(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a), Numerical Recipes' gammq."""
    if x <= 0:
        return 1.0
    log_prefactor = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        # The series for the lower part converges fast here; the continued fraction does
        # beyond. Q = 1 - P loses relative precision only where Q is close to 1.
        term = total = 1 / a
        shape = a
        for _ in range(_GAMMA_MAX_ITERATIONS):
            shape += 1
            term *= x / shape
            total += term
            if abs(term) < abs(total) * _GAMMA_EPSILON:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefactor))
    # Modified Lentz evaluation of the continued fraction for the upper part.
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    fraction = d
    for i in range(1, _GAMMA_MAX_ITERATIONS):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = d if abs(d) >= _TINY else _TINY
        c = b + an / c
        c = c if abs(c) >= _TINY else _TINY
        d = 1 / d
        step = d * c
        fraction *= step
        if abs(step - 1) < _GAMMA_EPSILON:
            break
    return min(1.0, math.exp(log_prefactor) * fraction)


def _validated_counts(counts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    if len(counts) < 2:
        raise ValueError("counts needs at least two variants: the control first, then one more")
    arms = []
    for position, pair in enumerate(counts):
        try:
            visitors, conversions = (operator.index(value) for value in pair)
        except (TypeError, ValueError):
            raise ValueError(
                f"counts[{position}] must be a (visitors, conversions) pair of whole numbers"
            ) from None
        if visitors < 0 or conversions < 0:
            raise ValueError(f"counts[{position}]: visitors and conversions cannot be negative")
        if conversions > visitors:
            raise ValueError(
                f"counts[{position}]: conversions ({conversions}) cannot exceed "
                f"visitors ({visitors})"
            )
        arms.append((visitors, conversions))
    return arms


def _validated_shares(weights: Sequence[float] | None, count: int) -> list[float]:
    if weights is None:
        return [1 / count] * count
    if len(weights) != count:
        raise ValueError(f"weights has {len(weights)} values for {count} variants")
    if not all(_is_number(weight) and 0 < weight < math.inf for weight in weights):
        raise ValueError("weights must be positive numbers")
    total = sum(weights)
    return [weight / total for weight in weights]


def _validate_alpha(alpha: float) -> None:
    if not (_is_number(alpha) and 0 < alpha < 1):
        raise ValueError("alpha must be between 0 and 1 (exclusive)")


def _is_number(value: object) -> bool:
    # numbers.Real also admits numpy's scalars; a bool is a number only by accident.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
