"""``python -m radiomix.config``: print the default configuration generated from the schema (the shipped
``params/train_default.yaml``); ``--reference``: the configuration reference in Markdown (``docs/configuration.md``)."""

import sys

from .schema import defaults_yaml, reference_markdown

print(reference_markdown() if "--reference" in sys.argv[1:] else defaults_yaml(), end="")
