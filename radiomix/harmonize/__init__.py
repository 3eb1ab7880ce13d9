"""ComBat harmonization as a leak-free scikit-learn transformer, and site-effect diagnostics.

:class:`ComBat` removes additive and multiplicative site (scanner, centre, batch) effects from feature
columns while preserving the effects of declared covariates (Johnson, Li & Rabinovic 2007; Fortin et al.
2017/2018). ``fit`` estimates everything from the training rows only; ``transform`` applies those estimates
to new rows using each row's own covariates, so ComBat can sit inside a cross-validated Pipeline without
leaking information from the test fold.

The arithmetic follows R's ``sva::ComBat`` and the ``neuroCombat`` packages step by step (same design
matrix, same pooled standardisation, same empirical-Bayes priors and the same stopping rule for the
parametric iteration), so outputs agree with both to ~1e-12; the tests check this against the published
reference outputs and against both packages run live. The non-parametric prior is vectorised (and computed
in the log domain, which also avoids the underflow that makes neuroCombat return NaN for large batches).

:func:`site_effect`, :func:`compare_site_effect` and :func:`plot_site_effect` measure how well the site can
still be predicted from the features (cross-validated AUC, Kruskal-Wallis tests) before and after
harmonization.
"""

from .combat import FEW_ROWS, ComBat, ComBatWarning
from .site_effect import SiteEffect, compare_site_effect, plot_site_effect, site_effect

__all__ = ["ComBat", "ComBatWarning", "FEW_ROWS", "SiteEffect", "site_effect", "compare_site_effect", "plot_site_effect"]
