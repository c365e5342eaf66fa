"""A training-curve PNG per GRPO variant, beside its adapter: what each reward did, step by step."""
from __future__ import annotations

from pathlib import Path


def plot_reward_curves(components: dict[str, list[float]], title: str, out: Path) -> Path | None:
    if not components:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    for key, values in sorted(components.items()):
        label = key.removeprefix("rewards/").removesuffix("/mean")
        ax.plot(range(1, len(values) + 1), values, label=label, linewidth=2.2 if key == "reward" else 1.2)
    ax.set_xlabel("logged step")
    ax.set_ylabel("mean reward")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
