"""The thesis output format: tags and system prompt shared by trainers, rewards and suites."""

REASONING_START = "<start_working_out>"
REASONING_END = "<end_working_out>"
SOLUTION_START = "<SOLUTION>"
SOLUTION_END = "</SOLUTION>"
TAGS = (REASONING_START, REASONING_END, SOLUTION_START, SOLUTION_END)

SYSTEM_PROMPT = (
    "You are given a problem. Think about the problem and provide your working out. "
    f"Place it between {REASONING_START} and {REASONING_END}. "
    f"Then, provide your solution between {SOLUTION_START}{SOLUTION_END}"
)
