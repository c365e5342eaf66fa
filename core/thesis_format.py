"""The thesis output format: tags, system prompt and the SFT model's chat template.

Shared by trainers (what the model learns), rewards (what they check), suites (how items are
prompted) and every engine (how a prompt is rendered), so it lives in one place.

Chat template of the SFT model: system message + EOS, user text, assistant text + EOS; with
``add_generation_prompt`` it appends the reasoning-start tag. (Thesis quirk: completions
therefore normally do *not* contain ``<start_working_out>``; see QUIRKS.md.)
"""

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

CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] + eos_token }}"
    "{% elif m['role'] == 'user' %}{{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '" + REASONING_START + "' }}{% endif %}"
)


def messages(question: str, system: str = SYSTEM_PROMPT) -> list[dict]:
    """A thesis prompt: the system prompt, then the question as the user turn."""
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]
