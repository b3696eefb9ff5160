"""Grounded question answering over primary sources (FRUS telegram no. 352 and more).

``from assistant import Assistant`` is lazy so that ``import assistant`` (and the CLI's
start-up) does not pay for torch, Chroma or LangChain until they are used.
"""

__all__ = ["Answer", "Assistant", "Citation", "Passage"]


def __getattr__(name):
    if name == "Assistant":
        from assistant.api import Assistant

        return Assistant
    if name in ("Answer", "Citation", "Passage"):
        from assistant import answer

        return getattr(answer, name)
    raise AttributeError(name)
