"""The synthetic twins moved down to ``core.sources.synthetic_qa`` (the tiny base's pretraining
corpus draws from the same generators); this name stays for the suite's callers."""
from core.sources.synthetic_qa import GENERATORS, VERSION, arc_challenge, boolq, commonsense_qa  # noqa: F401
