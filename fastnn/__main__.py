"""python -m fastnn: the same as the `fastnn` command."""
from .cli import main

main()
