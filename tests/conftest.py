"""Shared test configuration: hypothesis profiles."""

import os

from hypothesis import HealthCheck, settings

# PAIPA_HYPOTHESIS_PROFILE=soak runs thousands of cases instead of CI's quick pass.
settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile(
    "soak", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("PAIPA_HYPOTHESIS_PROFILE", "ci"))
