"""What the property tests share: one settings profile, kept fast and stable for CI, and text
strategies that reach the edges the validators care about (whitespace, lone surrogates, limits)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def examples(count: int, **changes: Any) -> settings:
    """`count` examples, the same ones every run (derandomize), no deadline (a shared CI box must not
    turn a slow example into a failure), no example database written into the checkout."""
    return settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        **changes,
    )


# every kind of whitespace str.split() and str.strip() know, including the Unicode line separators
WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u3000"
LONE_SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)  # what a bad JSON escape such as "\ud83d" leaves
CHARS = st.one_of(
    st.characters(),  # any code point but surrogates
    st.sampled_from(WHITESPACE),
    st.sampled_from("aé😀,\"'{}[]:"),
)
TEXT = st.text(CHARS, max_size=12)
SPACES = st.text(st.sampled_from(WHITESPACE), max_size=3)


@st.composite
def around(draw: st.DrawFn, limit: int, *, surrogates: bool = True) -> str:
    """Text whose length after trimming (and collapsing runs of whitespace) lands near `limit`, with
    whitespace around it: a length check made before trimming, or on the wrong string, shows up here."""
    unit = draw(st.sampled_from(["a", "é", "😀", "a ", "a  \t", "\u3000a"]))
    core = draw(
        st.one_of(
            TEXT,
            st.integers(limit - 3, limit + 3).map(lambda n: unit * n),
            st.integers(max(1, limit // 2 - 2), limit // 2 + 2).map(lambda n: unit * n),
        )
    )
    if surrogates and draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(core)))
        core = core[:at] + draw(LONE_SURROGATES) + core[at:]
    return draw(SPACES) + core + draw(SPACES)
