"""Fleet analysis: every node judged against the robust centre of its own fleet (pure functions, numpy/scipy).

A fleet's nodes share a hardware fingerprint (envcheck/fingerprint.py); within such a group, for each case, a node's
value is the median log step time of its fresh-process runs (on a 2-core VM the first run of a tier-0 validate
measured 10x slower than the next two while the worker pool started beside it). The fleet's centre for that node is
the median of the *other* nodes' values when they are odd in number (leave-one-out: the node never pulls its own
reference), and the median of all values when the others are even in number (the middle node's value: the mean of
the two middle others would be pulled halfway to an outlier, so that in a fleet of three with one node 20 % slow
the two healthy nodes would read 11 % fast), its spread 1.4826 x the MAD of all values (a robust standard deviation
of a healthy node's value, which holds the nodes' own differences and their measurement noise). A node's shift d =
value - centre (log of its ratio) has the standard error

    se = sqrt(max(spread^2, own within-run variance / n, the group's pooled within-run variance / n)
              + pi/2 spread^2 / peers)

(the fleet spread, unless the node's own runs are noisier, plus the centre's own error) with peers - 1 degrees of
freedom (Student t: a fleet of four has a crude spread). For a threshold X (``FleetSettings.slower_pct``):

- *degraded*: the one-sided test rejects "d <= log(1 + X)" at ``alpha`` after Holm over the node's own family
  (each case, and the node's mean over its cases: a GPU that is 5 % slow is slow everywhere, and a mean of many
  cases tells it sooner). The error is per node, not per fleet: ``alpha`` = 0.01 flags at most 1 % of healthy
  nodes, far fewer when X > 0 (they sit at d = 0, not at the threshold);
- *healthy*: every case's one-sided upper bound rules out a slowdown beyond X; that bound is about this node's own
  value, so its error is the node's runs' and the centre's (the fleet's spread is no doubt about the node), with the
  group's pooled within-run degrees of freedom;
- *inconclusive*: neither; the report gives the smallest slowdown this spread can tell (power
  ``FleetSettings.power``), and so which slowdowns the fleet can tell apart at all;
- *broken*: the node reported a failure (envcheck FAIL, a case not measured, validate broken);
- *missing*: the node was expected (a task of the job) and never reported; the caller says why (Slurm's reason).

A node whose fingerprint differs from the largest group's is named for what differs (another driver major, fewer
cores, a GPU missing); with fewer than ``min_peers`` nodes sharing its fingerprint it cannot be judged for speed
(inconclusive) and is proposed for draining with the difference as the reason.

The API for callers (the CLI's `bench fleet report`, a results site's nodes x cases heat map):
``ratios_to_fleet(nodes)`` -> one ``CaseRatio`` per (node, case); ``judge_fleet(nodes, expected)`` -> a ranked
``FleetReport`` of ``NodeReport`` (and the same cells); ``node_histories(nodes, history)`` -> each node against
its own earlier validations; ``drain_command(node, reason)`` -> scontrol's argv.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import statistics
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence

from bench import config

MAD_TO_SD = 1.4826  # a normal distribution's standard deviation per median absolute deviation
MEDIAN_VARIANCE = math.pi / 2  # variance of a median of k values / variance of their mean, large k
MEAN_CASE = "(mean over cases)"


class NodeVerdict(str, enum.Enum):
    BROKEN = "broken"
    DEGRADED = "degraded"
    MISSING = "missing"
    INCONCLUSIVE = "inconclusive"
    HEALTHY = "healthy"


RANK = {NodeVerdict.BROKEN: 0, NodeVerdict.DEGRADED: 1, NodeVerdict.MISSING: 2, NodeVerdict.INCONCLUSIVE: 3,
        NodeVerdict.HEALTHY: 4}


@dataclasses.dataclass(frozen=True)
class FleetSettings:
    slower_pct: float = config.FLEET_SLOWER_PCT["cuda"]  # X: degraded means slower than the fleet beyond this
    alpha: float = config.FLEET_ALPHA  # per node: the chance a node at the threshold is flagged
    min_peers: int = config.FLEET_MIN_PEERS  # nodes of one fingerprint needed to judge speed (the node included)
    power: float = config.FLEET_POWER  # for the smallest detectable slowdown

    def __post_init__(self) -> None:
        if not (math.isfinite(self.slower_pct) and 0 <= self.slower_pct < 100):
            raise ValueError(f"slower_pct must be a percentage in [0, 100), got {self.slower_pct}")
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if self.min_peers < 3:
            raise ValueError(f"min_peers must be at least 3 (a median and a spread of others), got {self.min_peers}")
        if not 0.5 <= self.power < 1:
            raise ValueError(f"power must be in [0.5, 1), got {self.power}")

    @property
    def threshold(self) -> float:
        return math.log1p(self.slower_pct / 100)


@dataclasses.dataclass(frozen=True)
class NodeRuns:
    """What one node reported: its fingerprint and, per case, the step times of its measured runs (seconds,
    one per fresh process); ``broken``: why the node failed (empty when it did not)."""

    node: str
    fingerprint: str
    fields: tuple[tuple[str, str], ...]
    step_s: Mapping[str, Sequence[float]]
    broken: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class CaseRatio:
    """One (node, case) cell: the node's step time over its fleet's centre (> 1: slower), its interval, and the
    cell's verdict (healthy, degraded, inconclusive; broken where the node broke, inconclusive without peers)."""

    node: str
    case: str
    fingerprint: str
    ratio: float | None
    low: float | None  # the ratio's one-sided bounds at alpha (None without peers): low as degraded tests it
    high: float | None  # (fleet spread included), high as healthy does (the node's own error)
    p_slower: float | None  # one-sided p of "slower than the fleet by more than X", before Holm
    mde_pct: float | None  # the smallest slowdown this cell's spread tells apart at the settings' power
    runs: int
    peers: int  # other nodes of this fingerprint with this case
    verdict: NodeVerdict


@dataclasses.dataclass(frozen=True)
class NodeReport:
    node: str
    fingerprint: str | None
    verdict: NodeVerdict
    ratio: float | None  # geometric mean over its cases of the cell ratios
    worst_case: str | None
    worst_ratio: float | None
    reasons: tuple[str, ...]
    fingerprint_differs: tuple[tuple[str, str | None, str | None], ...] = ()  # (field, this node's, the fleet's)
    mde_pct: float | None = None

    @property
    def drain(self) -> bool:
        """Whether an operator should take the node out: broken, degraded, or a fingerprint no peer shares."""
        if self.verdict in (NodeVerdict.BROKEN, NodeVerdict.DEGRADED):
            return True
        return bool(self.fingerprint_differs) and self.verdict is NodeVerdict.INCONCLUSIVE

    def drain_reason(self) -> str:
        return f"torchrig {self.verdict.value}: " + "; ".join(self.reasons)[:200]


@dataclasses.dataclass(frozen=True)
class FleetReport:
    nodes: list[NodeReport]  # ranked: broken, degraded (slowest first), missing, inconclusive, healthy
    cells: list[CaseRatio]
    settings: FleetSettings
    groups: dict[str, int]  # fingerprint -> nodes
    fleet_fingerprint: str | None  # the largest group's
    mde_pct: dict[str, float]  # fingerprint -> the median cell's smallest detectable slowdown

    def count(self, verdict: NodeVerdict) -> int:
        return sum(1 for node in self.nodes if node.verdict is verdict)

    def to_drain(self) -> list[NodeReport]:
        return [node for node in self.nodes if node.drain]


@dataclasses.dataclass(frozen=True)
class NodeHistory:
    """A node against its own earlier validations: per case, its median run over the median of its last stored
    step times (> 1: slower than it used to be); a figure beside the fleet verdict, not a verdict (a node can be
    as slow as it always was, which the fleet shows and its history does not)."""

    node: str
    validations: int  # earlier validations with at least one of these cases
    ratio: float | None  # geometric mean over the cases it has history for
    worst_case: str | None
    worst_ratio: float | None


def node_histories(nodes: Sequence[NodeRuns], history: Mapping[str, Mapping[str, Sequence[float]]]) \
        -> dict[str, NodeHistory]:
    """``history``: per node and case, its earlier step times (bench.store.fleet.node_history)."""
    found = {}
    for node in nodes:
        earlier = history.get(node.node, {})
        ratios = {}
        for case, times in node.step_s.items():
            previous = [t for t in earlier.get(case, ()) if t > 0 and math.isfinite(t)]
            current = [t for t in times if t > 0 and math.isfinite(t)]
            if previous and current:
                ratios[case] = statistics.median(current) / statistics.median(previous)
        validations = max((len(earlier[case]) for case in ratios), default=0)
        worst = max(ratios, key=ratios.get, default=None)
        mean = math.exp(statistics.fmean(math.log(r) for r in ratios.values())) if ratios else None
        found[node.node] = NodeHistory(node.node, validations, mean, worst, ratios.get(worst) if worst else None)
    return found


def drain_command(node: str, reason: str) -> list[str]:
    """scontrol's argv that drains ``node`` with ``reason`` (the operator runs it; `fleet report --drain` too)."""
    return ["scontrol", "update", f"nodename={node}", "state=drain", f"reason={reason}"]


# ---------------------------------------------------------------------------------------------------- statistics


def leave_one_out_medians(values):
    """For a 1-D array (NaN: absent), each present element's median of the *other* present elements (NaN where
    there are none), in O(k log k)."""
    import numpy

    out = numpy.full(values.shape, numpy.nan)
    present = numpy.flatnonzero(~numpy.isnan(values))
    k = present.size
    if k < 2:
        return out
    order = present[numpy.argsort(values[present], kind="stable")]
    ordered = values[order]
    rank = numpy.arange(k)
    m = k - 1  # the others

    def others(index):  # the index-th smallest of the others of the element at each rank
        return numpy.where(index < rank, ordered[numpy.minimum(index, k - 1)],
                           ordered[numpy.minimum(index + 1, k - 1)])

    if m % 2:
        medians = others(numpy.full(k, m // 2))
    else:
        medians = (others(numpy.full(k, m // 2 - 1)) + others(numpy.full(k, m // 2))) / 2
    out[order] = medians
    return out


def fleet_centres(values):
    """Each present element's fleet centre (NaN where absent or alone): the median of the others when they are odd
    in number, else the median of all (then an odd number: one node's value, never a mean of two)."""
    import numpy

    present = ~numpy.isnan(values)
    if present.sum() % 2 == 0:
        return leave_one_out_medians(values)
    with numpy.errstate(all="ignore"):
        return numpy.where(present & (present.sum() > 1), numpy.nanmedian(values) if present.any() else numpy.nan,
                           numpy.nan)


def group_cells(members: list[NodeRuns], cases: list[str], settings: FleetSettings):
    """Arrays (nodes x cases) of ratio, bounds, p, mde, runs, peers for one fingerprint group."""
    import numpy
    from scipy import stats

    m, c = len(members), len(cases)
    value = numpy.full((m, c), numpy.nan)
    within = numpy.full((m, c), numpy.nan)  # sample variance of the log runs
    runs = numpy.zeros((m, c), dtype=int)
    column = {case: j for j, case in enumerate(cases)}
    for i, node in enumerate(members):
        for case, times in node.step_s.items():
            logs = numpy.log(numpy.asarray([t for t in times if t > 0 and math.isfinite(t)], dtype=float))
            if logs.size == 0:
                continue
            j = column[case]
            value[i, j] = numpy.median(logs)  # one disturbed run of three must not move the node
            runs[i, j] = logs.size
            if logs.size >= 2:
                within[i, j] = logs.var(ddof=1)
    present = ~numpy.isnan(value)
    count = present.sum(axis=0)  # nodes with each case
    centre = numpy.column_stack([fleet_centres(value[:, j]) for j in range(c)]) if c else value
    with numpy.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a case nobody ran twice: an all-NaN slice, NaN is right
        median = numpy.nanmedian(value, axis=0) if m else numpy.zeros(c)
        spread = MAD_TO_SD * numpy.nanmedian(numpy.abs(value - median), axis=0)
        pooled = numpy.nanmedian(within, axis=0)  # a typical node's within-run variance per case
    n = numpy.maximum(runs, 1)
    own = numpy.where(numpy.isnan(within), 0.0, within) / n
    typical = numpy.where(numpy.isnan(pooled), 0.0, pooled)[None, :] / n
    peers = numpy.where(present, count[None, :] - 1, 0)
    between = numpy.broadcast_to(spread[None, :] ** 2, (m, c))
    variance = numpy.maximum.reduce([between, own, typical])
    variance = variance + MEDIAN_VARIANCE * spread[None, :] ** 2 / numpy.maximum(peers, 1)
    se = numpy.sqrt(variance)
    # ruling a slowdown out is about this node's own value, known to within its runs and the centre's error: the
    # fleet's spread is not doubt about it
    se_own = numpy.sqrt(numpy.maximum(own, typical) + MEDIAN_VARIANCE * spread[None, :] ** 2 / numpy.maximum(peers, 1))
    # degrees of freedom of the larger part: the fleet spread's (peers - 1), or the group's pooled within-run
    # variance's (every node's runs less one), which a small fleet of noisy nodes is judged by
    within_df = numpy.nansum(numpy.where(present, numpy.maximum(runs - 1, 0), 0), axis=0)[None, :]
    df = numpy.where(between >= numpy.maximum(own, typical), numpy.maximum(peers - 1, 1),
                     numpy.maximum(within_df, 1)).astype(float)
    usable = present & (peers >= settings.min_peers - 1) & (se > 0)
    shift = value - centre
    with numpy.errstate(all="ignore"):
        p_slower = numpy.where(usable, stats.t.sf((shift - settings.threshold) / se, df), numpy.nan)
        own_df = numpy.maximum(within_df, 1).astype(float)
        p_within = numpy.where(usable & (se_own > 0), stats.t.cdf((shift - settings.threshold) / se_own, own_df),
                               numpy.nan)
        bound = stats.t.ppf(1 - settings.alpha, df)
        detect = bound + stats.norm.ppf(settings.power)
        low = numpy.where(usable, numpy.exp(shift - bound * se), numpy.nan)
        high = numpy.where(usable, numpy.exp(shift + stats.t.ppf(1 - settings.alpha, own_df) * se_own), numpy.nan)
        mde = numpy.where(usable, numpy.expm1(settings.threshold + detect * se) * 100, numpy.nan)
    return dict(value=value, shift=shift, se=se, df=df, usable=usable, present=present, p_slower=p_slower,
                p_within=p_within, low=low, high=high, mde=mde, runs=runs, peers=peers)


def node_means(arrays, settings: FleetSettings):
    """Per node, the test of its mean shift over its usable cases, with the spread of that mean across the group
    (which holds whatever the cases share, such as one node's clock): (shift, p_slower, mde), NaN where none."""
    import numpy
    from scipy import stats

    usable = arrays["usable"]
    cases = usable.sum(axis=1)
    with numpy.errstate(all="ignore"):
        mean = numpy.where(cases > 0, numpy.nansum(numpy.where(usable, arrays["shift"], 0.0), axis=1)
                           / numpy.maximum(cases, 1), numpy.nan)
        own_var = numpy.nansum(numpy.where(usable, arrays["se"] ** 2, 0.0), axis=1) / numpy.maximum(cases, 1) ** 2
        finite = mean[~numpy.isnan(mean)]
        spread = MAD_TO_SD * numpy.median(numpy.abs(finite - numpy.median(finite))) if finite.size else numpy.nan
        k = max(finite.size - 1, 1)
        se = numpy.sqrt(numpy.maximum(spread ** 2, own_var) + MEDIAN_VARIANCE * spread ** 2 / k)
        df = float(max(k - 1, 1))
        ok = (~numpy.isnan(mean)) & (se > 0) & (finite.size >= settings.min_peers)
        p = numpy.where(ok, stats.t.sf((mean - settings.threshold) / se, df), numpy.nan)
        mde = numpy.where(ok, numpy.expm1(settings.threshold + (stats.t.ppf(1 - settings.alpha, df)
                                                                 + stats.norm.ppf(settings.power)) * se) * 100,
                          numpy.nan)
    return mean, p, mde


def holm_rows(p, alpha: float):
    """Holm's step-down along each row of p (NaN: not in the family): which are rejected."""
    import numpy

    filled = numpy.where(numpy.isnan(p), numpy.inf, p)
    family = (~numpy.isnan(p)).sum(axis=1, keepdims=True)
    order = numpy.argsort(filled, axis=1)
    ordered = numpy.take_along_axis(filled, order, axis=1)
    levels = alpha / numpy.maximum(family - numpy.arange(p.shape[1])[None, :], 1)
    passes = numpy.cumprod(ordered <= levels, axis=1).astype(bool)
    rejected = numpy.zeros_like(passes)
    numpy.put_along_axis(rejected, order, passes, axis=1)
    return rejected


# ---------------------------------------------------------------------------------------------------- judging


def fingerprint_groups(nodes: Sequence[NodeRuns]) -> dict[str, list[NodeRuns]]:
    groups: dict[str, list[NodeRuns]] = {}
    for node in nodes:
        groups.setdefault(node.fingerprint, []).append(node)
    return groups


def check_unique(nodes: Sequence[NodeRuns]) -> None:
    repeated = [name for name, n in Counter(node.node for node in nodes).items() if n > 1]
    if repeated:
        raise ValueError(f"nodes reported more than once: {', '.join(sorted(repeated)[:5])}; pass one result "
                         "per node (the latest)")


def _judge_group(members: list[NodeRuns], settings: FleetSettings):
    """(cells, per-node summaries) of one fingerprint group."""
    import numpy

    cases = sorted({case for node in members for case in node.step_s})
    arrays = group_cells(members, cases, settings)
    mean, p_mean, mde_mean = node_means(arrays, settings)
    # each node's family: its cases and, with more than one, its mean over them
    family = arrays["p_slower"] if len(cases) < 2 else numpy.column_stack([arrays["p_slower"], p_mean])
    rejected = holm_rows(family, settings.alpha) if family.size else numpy.zeros(family.shape, dtype=bool)
    degraded_cells = rejected[:, : len(cases)]
    mean_degraded = rejected[:, len(cases)] if len(cases) >= 2 else numpy.zeros(len(members), dtype=bool)
    healthy_cells = arrays["usable"] & (arrays["p_within"] <= settings.alpha)
    cells, summaries = [], []
    for i, node in enumerate(members):
        broken = bool(node.broken)
        row = []
        for j, case in enumerate(cases):
            if not arrays["present"][i, j]:
                continue
            usable = bool(arrays["usable"][i, j])
            verdict = (NodeVerdict.BROKEN if broken else NodeVerdict.DEGRADED if degraded_cells[i, j]
                       else NodeVerdict.HEALTHY if healthy_cells[i, j] else NodeVerdict.INCONCLUSIVE)
            ratio = float(math.exp(arrays["shift"][i, j])) if not math.isnan(arrays["shift"][i, j]) else None
            row.append(CaseRatio(node.node, case, node.fingerprint, ratio,
                                 float(arrays["low"][i, j]) if usable else None,
                                 float(arrays["high"][i, j]) if usable else None,
                                 float(arrays["p_slower"][i, j]) if usable else None,
                                 float(arrays["mde"][i, j]) if usable else None,
                                 int(arrays["runs"][i, j]), int(arrays["peers"][i, j]), verdict))
        cells += row
        summaries.append((node, row, bool(mean_degraded[i]), None if math.isnan(mean[i]) else float(mean[i]),
                          None if math.isnan(mde_mean[i]) else float(mde_mean[i])))
    finite = arrays["mde"][arrays["usable"]]
    return cells, summaries, (float(numpy.median(finite)) if finite.size else None)


def tells_text(mde: float | None) -> str:
    """What one cell's spread can tell apart: the slowest case undecided says why a slow node is not degraded."""
    if mde is None:
        return "no peers to tell by"
    return f"its spread tells >= {mde:.1f}% apart" if mde < 1000 else "its spread tells nothing apart"


def _node_report(node: NodeRuns, row: list[CaseRatio], mean_degraded: bool, mean_shift: float | None,
                 mde_mean: float | None, settings: FleetSettings, differs, group_size: int) -> NodeReport:
    ratios = [cell for cell in row if cell.ratio is not None]
    worst = max(ratios, key=lambda cell: cell.ratio, default=None)
    ratio = math.exp(mean_shift) if mean_shift is not None else (
        math.exp(sum(math.log(c.ratio) for c in ratios) / len(ratios)) if ratios else None)
    differ_text = ", ".join(f"{key} {mine} (fleet: {theirs})" for key, mine, theirs in differs)
    reasons: list[str] = [f"fingerprint differs from the fleet's: {differ_text}"] if differs else []
    mdes = [cell.mde_pct for cell in row if cell.mde_pct is not None] + ([mde_mean] if mde_mean is not None else [])
    mde = min(mdes) if mdes else None
    if node.broken:
        return NodeReport(node.node, node.fingerprint, NodeVerdict.BROKEN, ratio, worst and worst.case,
                          worst and worst.ratio, tuple(reasons + list(node.broken)), differs, mde)
    slow = [cell for cell in row if cell.verdict is NodeVerdict.DEGRADED]
    if slow or mean_degraded:
        listed = ", ".join(f"{cell.case} x{cell.ratio:.3f}" for cell in sorted(slow, key=lambda c: -c.ratio)[:5])
        what = (f"{len(slow)} case(s) slower than the fleet by more than {settings.slower_pct:g}%: {listed}" if slow
                else f"slower than the fleet over its {len(ratios)} cases by x{ratio:.3f} (more than "
                     f"{settings.slower_pct:g}%)")
        return NodeReport(node.node, node.fingerprint, NodeVerdict.DEGRADED, ratio, worst and worst.case,
                          worst and worst.ratio, tuple(reasons + [what]), differs, mde)
    if group_size < settings.min_peers:
        reasons.append(f"{group_size} node(s) share its fingerprint, fewer than {settings.min_peers}: no fleet "
                       "to judge its speed against")
        return NodeReport(node.node, node.fingerprint, NodeVerdict.INCONCLUSIVE, ratio, worst and worst.case,
                          worst and worst.ratio, tuple(reasons), differs, mde)
    if not row:
        return NodeReport(node.node, node.fingerprint, NodeVerdict.INCONCLUSIVE, None, None, None,
                          tuple(reasons + ["no measured case"]), differs, None)
    if all(cell.verdict is NodeVerdict.HEALTHY for cell in row):
        reasons.append(f"all {len(row)} case(s) ruled out slower than the fleet by more than "
                       f"{settings.slower_pct:g}%")
        return NodeReport(node.node, node.fingerprint, NodeVerdict.HEALTHY, ratio, worst and worst.case,
                          worst and worst.ratio, tuple(reasons), differs, mde)
    undecided = sorted((cell for cell in row if cell.verdict is not NodeVerdict.HEALTHY),
                       key=lambda cell: -(cell.ratio or 0.0))
    listed = ", ".join(f"{cell.case} x{cell.ratio:.3f} ({tells_text(cell.mde_pct)})" for cell in undecided[:3]
                       if cell.ratio is not None)
    best = (f"; its mean over the cases tells >= {mde_mean:.1f}% apart" if mde_mean is not None and mde_mean < 1000
            else "")
    reasons.append(f"{len(undecided)} of {len(row)} case(s) neither shown slower nor ruled out slower beyond "
                   f"{settings.slower_pct:g}%: {listed or 'no ratio'}{best}")
    return NodeReport(node.node, node.fingerprint, NodeVerdict.INCONCLUSIVE, ratio, worst and worst.case,
                      worst and worst.ratio, tuple(reasons), differs, mde)


def ratios_to_fleet(nodes: Sequence[NodeRuns], settings: FleetSettings | None = None) -> list[CaseRatio]:
    """One record per (node, case): the node's ratio to its fingerprint group's robust centre, with its verdict
    (the nodes x cases heat map's cells)."""
    return judge_fleet(nodes, (), {}, settings).cells


def judge_fleet(nodes: Sequence[NodeRuns], expected: Sequence[str] = (), missing_reasons: Mapping[str, str] | None
                = None, settings: FleetSettings | None = None) -> FleetReport:
    """Every node's verdict, ranked; ``expected``: the nodes that should have reported (those that did not are
    missing, with ``missing_reasons[node]`` when the scheduler gave one)."""
    settings = settings or FleetSettings()
    check_unique(nodes)
    groups = fingerprint_groups(nodes)
    fleet = max(groups, key=lambda key: (len(groups[key]), key)) if groups else None
    fleet_fields = dict(groups[fleet][0].fields) if fleet else {}
    cells: list[CaseRatio] = []
    reports: list[NodeReport] = []
    mde_by_group: dict[str, float] = {}
    for fingerprint, members in groups.items():
        group_cells_, summaries, mde = _judge_group(members, settings)
        if mde is not None:
            mde_by_group[fingerprint] = mde
        cells += group_cells_
        for node, row, mean_degraded, mean_shift, mde_mean in summaries:
            differs = () if fingerprint == fleet else tuple(_differences(dict(node.fields), fleet_fields))
            reports.append(_node_report(node, row, mean_degraded, mean_shift, mde_mean, settings, differs,
                                        len(members)))
    reported = {node.node for node in nodes}
    reasons = missing_reasons or {}
    for name in expected:
        if name not in reported:
            why = reasons.get(name) or "no result in the store"
            reports.append(NodeReport(name, None, NodeVerdict.MISSING, None, None, None, (f"never reported: {why}",)))
    reports.sort(key=lambda r: (RANK[r.verdict], -(r.ratio or 0.0), r.node))
    return FleetReport(reports, cells, settings, {key: len(value) for key, value in groups.items()}, fleet,
                       mde_by_group)


def _differences(mine: dict[str, str], fleet: dict[str, str]) -> list[tuple[str, str | None, str | None]]:
    keys = list(dict.fromkeys([*fleet, *mine]))
    return [(key, mine.get(key), fleet.get(key)) for key in keys if mine.get(key) != fleet.get(key)]
