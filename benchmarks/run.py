"""gradest's benchmarks: each case against its anchors, as ratios, in one table.

Usage::

    python benchmarks/run.py            # every case, full sizes
    python benchmarks/run.py --quick    # smaller sizes and fewer repeats, < 2 min
    python benchmarks/run.py --cases seed_000,compile
    python benchmarks/run.py --cases quantile,poisson   # GLMs (glm.py)
    python benchmarks/run.py --cases defaults  # default settings (defaults.py)

Each case runs in a fresh process (its peak memory is its own) and measures
gradest and its anchors side by side in that process; repeated timings are
interleaved and reported as medians. The table is printed and written to
``benchmarks/results/results.md``, with a plot of fit time against data size
in ``fit_time.png``.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
COLUMNS = ["case", "measurement", "gradest", "seed-style loop", "scikit-learn",
           "lower bound", "seed ÷ gradest", "gradest ÷ scikit-learn",
           "gradest ÷ bound", "peak RSS", "target", "met", "notes"]


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def format_ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator <= 0:
        return ""
    ratio = numerator / denominator
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.3g}x"


def table_cells(result: dict) -> list[str]:
    """The cells of one row of the Markdown table."""
    if result["unit"] == "copies":
        copies = result["gradest_s"]
        value = "" if copies is None else f"{copies:.2f} copies"
        return [result["case"], result["what"], value, "", "", "", "", "", "",
                f"{result['rss_mb']:,.0f} MB", result["target"],
                _met(result["met"]), result["note"]]
    sklearn = format_seconds(result["sklearn_s"])
    if sklearn and result["sklearn_name"]:
        sklearn += f" ({result['sklearn_name']})"
    return [
        result["case"], result["what"], format_seconds(result["gradest_s"]),
        format_seconds(result["seed_s"]), sklearn, format_seconds(result["bound_s"]),
        format_ratio(result["seed_s"], result["gradest_s"]),
        format_ratio(result["gradest_s"], result["sklearn_s"]),
        format_ratio(result["gradest_s"], result["bound_s"]),
        f"{result['rss_mb']:,.0f} MB", result["target"], _met(result["met"]),
        result["note"],
    ]


def _met(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def markdown_table(results: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for result in results:
        cells = [cell.replace("|", "/") for cell in table_cells(result)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_fit_time(points: list[dict], path: str, title: str) -> None:
    """Fit time against the number of rows, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows = [p["n_rows"] for p in points]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label, style in [
            ("first_s", "gradest lbfgs, first fit (compiles)", "o--"),
            ("warm_s", "gradest lbfgs, warm refit", "o-"),
            ("sklearn_s", "scikit-learn LinearRegression", "s-"),
            ("bound_s", "lower bound (passes over X)", "^:")]:
        ax.plot(n_rows, [p[key] for p in points], style, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows of X (50 features, float64)")
    ax.set_ylabel("fit time (s)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _run_in_subprocess(argv: list[str], timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        subprocess.run([sys.executable, os.path.abspath(__file__), *argv,
                        "--json", out], check=True, timeout=timeout)
        with open(out) as result:
            return json.load(result)


def _write_json(path: str, payload) -> None:
    from _measure import peak_rss_mb

    if isinstance(payload, dict):
        payload = {**payload, "peak_rss_mb": peak_rss_mb()}
    with open(path, "w") as out:
        json.dump(payload, out)


def _registry() -> tuple[dict, dict]:
    """Every case and fresh-process call of the case modules, in run order.

    Each case module imports only ``_measure``; this is the one place that
    imports them all.
    """
    import defaults
    import glm
    import lasso
    import search
    import sparse
    import speed
    import ukr_real
    import workflows

    every_case, every_call = {}, {}
    for cases, calls in [
            (speed.SPEED_CASES, speed.SPEED_CALLS),
            # Whole workflows (feature elimination, parallel searches, imports).
            (workflows.WORKFLOW_CASES, workflows.WORKFLOW_CALLS),
            # Sparse TF-IDF text classification.
            (sparse.SPARSE_CASES, sparse.SPARSE_CALLS),
            # GLM families and quantile regression.
            (glm.GLM_CASES, glm.GLM_CALLS),
            # The Lasso: time to the same objective against Lasso and skglm.
            (lasso.LASSO_CASES, lasso.LASSO_CALLS),
            # Searches: the batched CV estimator against separate fits.
            (search.SEARCH_CASES, search.SEARCH_CALLS),
            # Default settings on many ordinary problems, every built-in loss.
            (defaults.DEFAULTS_CASES, defaults.DEFAULTS_CALLS),
            # UKR against the manifold learners on real and synthetic data.
            (ukr_real.UKR_REAL_CASES, ukr_real.UKR_REAL_CALLS)]:
        every_case.update(cases)
        every_call.update(calls)
    return every_case, every_call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes and fewer repeats (under two minutes)")
    parser.add_argument("--cases", default=None,
                        help="comma-separated subset of the cases")
    parser.add_argument("--out", default=RESULTS_DIR, help="results directory")
    # Internal: run one case, or one helper, in this (fresh) process.
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--call", help=argparse.SUPPRESS)
    parser.add_argument("--kwargs", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    cases, calls = _registry()

    if args.call:
        _write_json(args.json, calls[args.call](**json.loads(args.kwargs)))
        return 0
    if args.case:
        result = cases[args.case](args.quick)
        _write_json(args.json, result if isinstance(result, dict) else {"rows": result})
        return 0

    from _measure import machine_description

    names = args.cases.split(",") if args.cases else list(cases)
    unknown = set(names) - set(cases)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; "
                     f"choose from {list(cases)}")
    started = time.perf_counter()
    load_before = os.getloadavg()
    results, points = [], []
    for name in names:
        print(f"[bench] {name} ...", flush=True)
        case_started = time.perf_counter()
        argv_case = ["--case", name] + (["--quick"] if args.quick else [])
        result = _run_in_subprocess(argv_case, timeout=7200)
        results += result["rows"]
        points += result.get("plot", [])
        print(f"[bench] {name} done in {time.perf_counter() - case_started:.0f} s",
              flush=True)
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()

    machine = machine_description()
    date = datetime.date.today().isoformat()
    mode = "quick (smaller sizes, fewer repeats)" if args.quick else "full"
    header = (f"Benchmarks of {date} on {machine}. Mode: {mode}; "
              f"{elapsed:.0f} s in all; load average {load_before[0]:.1f} before, "
              f"{load_after[0]:.1f} after.")
    table = markdown_table(results)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.md"), "w") as out:
        out.write(f"# gradest benchmarks\n\n{header}\n\n{table}\n\n"
                  "Times are medians of interleaved repeats in one process per "
                  "case. The seed-style loop calls `jax.value_and_grad` and the "
                  "same optax update eagerly at every step; where the notes say "
                  "so, it was timed for fewer steps and multiplied out. The lower "
                  "bound is one forward and one backward jitted pass over the "
                  "data per iteration (plus the final evaluation).\n")
    if points:
        plot_fit_time(points, os.path.join(args.out, "fit_time.png"),
                      f"Linear regression fit time, {date}\n{machine.split(';')[0]}")
    print(f"\n{header}\n\n{table}\n")
    print(f"[bench] wrote {os.path.join(args.out, 'results.md')}"
          + (" and fit_time.png" if points else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
