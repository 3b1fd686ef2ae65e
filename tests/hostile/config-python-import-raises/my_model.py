"""A model module that fails as soon as it is imported, as one needing a missing GPU would."""

raise RuntimeError("CUDA is not available")


def answer(messages: list[dict[str, str]]) -> str:
    return "hello"
