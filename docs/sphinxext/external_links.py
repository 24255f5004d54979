"""Resolve references to scikit-learn, NumPy and JAX objects without network.

Docstrings refer to objects such as :class:`~sklearn.linear_model.Ridge`.
Intersphinx would resolve them from inventories downloaded at build time; the
build runs offline instead, so a reference that Sphinx cannot resolve locally
and whose target lies in one of these projects becomes a link to the
project's API page, built from the object's dotted name.

The estimators inherit a few methods (``score``, ``get_params``) from
scikit-learn, and their docstrings use scikit-learn's own labels and glossary
terms. Those references, and only those, link to scikit-learn's site: a
label or term that is missing from our own documentation still fails the
build.
"""

from docutils import nodes
from docutils.utils import get_source_line

# Dotted-name prefix -> (page of an object, given its full dotted name).
_API_PAGES = {
    "sklearn.": "https://scikit-learn.org/stable/modules/generated/{}.html",
    "numpy.": "https://numpy.org/doc/stable/reference/generated/{}.html",
    "jax.": "https://docs.jax.dev/en/latest/_autosummary/{}.html",
}
_SKLEARN = "https://scikit-learn.org/stable/"
# scikit-learn labels used in the docstrings of inherited methods.
_SKLEARN_LABELS = {
    "r2_score": "modules/model_evaluation.html#r2-score",
    "accuracy_score": "modules/model_evaluation.html#accuracy-score",
    "metadata_routing": "metadata_routing.html",
    "set_output": "auto_examples/miscellaneous/plot_set_output.html",
}
_OBJECT_ROLES = {"class", "func", "meth", "attr", "obj", "exc", "data", "mod"}
_METHOD_ROLES = {"meth", "attr"}


def _external_uri(target, role):
    for prefix, page in _API_PAGES.items():
        if not target.startswith(prefix):
            continue
        if role in _METHOD_ROLES:
            owner = target.rsplit(".", 1)[0]
            return page.format(owner) + "#" + target
        return page.format(target)
    return None


def _sklearn_std_uri(node):
    """Link of a :ref: or :term: written in a docstring inherited from sklearn."""
    source, _ = get_source_line(node)
    if "docstring of sklearn." not in (source or ""):
        return None
    target = node.get("reftarget", "")
    if node.get("reftype") == "term":
        anchor = "".join(c if c.isalnum() else "-" for c in target.lower())
        return f"{_SKLEARN}glossary.html#term-{anchor}"
    if node.get("reftype") == "ref":
        page = _SKLEARN_LABELS.get(target)
        return _SKLEARN + (page or f"search.html?q={target}")
    return None


def _resolve(app, env, node, contnode):
    if node.get("refdomain") == "std":
        uri = _sklearn_std_uri(node)
    elif node.get("refdomain") == "py" and node.get("reftype") in _OBJECT_ROLES:
        uri = _external_uri(node.get("reftarget", ""), node["reftype"])
    else:
        uri = None
    if uri is None:
        return None
    reference = nodes.reference("", "", internal=False, refuri=uri,
                                reftitle=node["reftarget"])
    reference += contnode
    return reference


def setup(app):
    app.connect("missing-reference", _resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
