import os

# scikit-learn's array-API common check runs only when SciPy's array-API
# support is switched on before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
