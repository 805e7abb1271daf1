"""What to generate: one frozen value shared by the backend, the runner and the benchmarks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GenerationRequest:
    """The parameters of one generation; ``None`` means the loaded pipeline's default.

    Checked here only for what no pipeline could run (an empty prompt, sizes that
    are not multiples of 8, counts below 1); each service applies its own,
    tighter limits before it builds one. Image ``i`` of a request is seeded
    ``seed + i``, so a request with ``n=4`` makes the same images as four
    requests with ``n=1`` and consecutive seeds.
    """

    prompt: str
    negative_prompt: str | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None
    n: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError("prompt: must be a non-empty string")
        if self.n < 1:
            raise ValueError(f"n={self.n}: must be at least 1")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps={self.steps}: must be at least 1")
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and (value < 8 or value % 8):
                raise ValueError(f"{name}={value}: must be a positive multiple of 8")

    @property
    def size(self) -> str | None:
        """``"WxH"`` when both sides are set, as the OpenAI API spells a size."""
        if self.width is None or self.height is None:
            return None
        return f"{self.width}x{self.height}"
