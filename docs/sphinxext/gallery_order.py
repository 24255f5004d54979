"""Order of the gallery: from the first linear fit to the manifold comparisons.

Files not listed here come after the listed ones, by name.
"""

from pathlib import Path

_SUBSECTIONS = ["linear_model", "ukr"]

_EXAMPLES = [
    # Linear models
    "plot_celsius_fahrenheit.py",
    "plot_solvers_eleven_points.py",
    "plot_learning_rate_search.py",
    "plot_schedules_early_stopping.py",
    "plot_logistic_regression.py",
    "plot_text_l1.py",
    "plot_custom_losses.py",
    "plot_poisson_counts.py",
    # Unsupervised kernel regression
    "plot_ukr_saddle.py",
    "plot_ukr_manifold_comparison.py",
    "plot_ukr_digits_umap.py",
]


def example_order(filename):
    """Sort key of an example file name within its subsection."""
    if filename in _EXAMPLES:
        return (0, _EXAMPLES.index(filename), filename)
    return (1, 0, filename)


def subsection_order(path):
    """Sort key of a gallery subsection, given its path."""
    name = Path(path).name
    if name in _SUBSECTIONS:
        return (0, _SUBSECTIONS.index(name), name)
    return (1, 0, name)
