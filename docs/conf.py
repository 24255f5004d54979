"""Sphinx configuration of the gradest documentation.

The build runs offline: no intersphinx inventories are fetched. References to
scikit-learn, NumPy and JAX objects that Sphinx cannot resolve locally become
plain links to those projects' API pages (see ``sphinxext/external_links.py``).
"""

import os
import re
import sys
from pathlib import Path

import gradest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "sphinxext"))

# Examples run in this process; keep JAX on the CPU and quiet, so that the
# gallery output is the same on every machine.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# -- Project -----------------------------------------------------------------

project = "gradest"
author = "The gradest developers"
copyright = "The gradest developers"
release = gradest.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "external_links",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
default_role = "literal"
pygments_style = "sphinx"
# An unresolvable :ref: or :doc: fails the build (-W); unresolvable Python
# types in docstrings stay plain text.
nitpicky = False

# -- API reference -----------------------------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
# Methods are documented in full on each class page by the class template,
# so numpydoc does not add its own table of members.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- Gallery -----------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "gallery_order.example_order",
    "subsection_order": "gallery_order.subsection_order",
    "doc_module": ("gradest",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"gradest": None},
    "remove_config_comments": True,
    "min_reported_time": 1,
    "show_memory": False,
    "download_all_examples": True,
    "matplotlib_animations": False,
    "image_srcset": [],
    "capture_repr": ("_repr_html_", "__repr__"),
}

# -- HTML --------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"gradest {release}"
html_theme_options = {
    "logo": {"text": "gradest"},
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
    "secondary_sidebar_items": ["page-toc", "sg_download_links", "sg_launcher_links"],
}
html_sidebars = {"index": [], "comparison": [], "api": []}
html_show_sourcelink = False
html_copy_source = False


# -- Docstring fix-ups -------------------------------------------------------

# In reST a bare word ending in "_" is a hyperlink reference, so a shape
# written as "(n_iter_,)" fails the build with "Unknown target name". Shapes
# that name fitted attributes are set as literals, as scikit-learn writes
# them ("(`n_features_in_`,)"); shapes already quoted are left alone.
_SHAPE = re.compile(r"shape \(([^)]*)\)")
_BARE_FITTED_NAME = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![`\w])")


def _quote_fitted_names_in_shapes(app, what, name, obj, options, lines):
    def quote(match):
        return "shape (" + _BARE_FITTED_NAME.sub(r"``\1``", match.group(1)) + ")"

    lines[:] = [_SHAPE.sub(quote, line) for line in lines]


def setup(app):
    # Before numpydoc (priority 500) parses the docstring.
    app.connect("autodoc-process-docstring", _quote_fitted_names_in_shapes,
                priority=400)
