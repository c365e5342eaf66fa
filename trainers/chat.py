"""The SFT model's chat template (THESIS.md): system + EOS, user text, assistant text + EOS;
the generation prompt appends the reasoning-start tag."""
from harness.thesis_format import REASONING_START, SYSTEM_PROMPT

CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] + eos_token }}"
    "{% elif m['role'] == 'user' %}{{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '" + REASONING_START + "' }}{% endif %}"
)


def messages(question: str, system: str = SYSTEM_PROMPT) -> list[dict]:
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]
