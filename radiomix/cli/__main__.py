"""``python -m radiomix.cli``."""

from . import main

main()
