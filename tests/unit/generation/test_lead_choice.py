"""Best of several leads (mechanics, with a stand-in engine): the best supported is chosen, ties go
to the greedy one, a perfect lead ends the wait, and the candidates share the question's prompt."""

from __future__ import annotations

import asyncio
from typing import Any

from services.generation import lead_choice, support
from services.generation.batching import Finished, Piece, Sampling
from services.generation.citations import allowed_urls
from services.generation.lead import LeadGate
from services.generation.pipeline import Prepared
from tests.unit.generation.test_lead import SOURCES

DOCUMENTED = ("Run Set-MpPreference -EnableControlledFolderAccess AuditMode in an elevated "
              "PowerShell window. ")
INVENTED = "The Contoso agent needs port 4711 open on every router. "


class Scripts:
    """Stands in for the engine: the nth generation streams the nth script, `delay` per piece."""

    def __init__(self, scripts: list[str], delays: list[float]) -> None:
        self.scripts, self.delays = scripts, delays
        self.calls: list[dict[str, Any]] = []
        self.cancelled: list[int] = []
        self.yielded = [0] * len(scripts)

    async def stream(self, weights: Any, prompt: list[int], sampling: Sampling,
                     prefix: tuple[int, ...] = (), shared: tuple[int, ...] = (),
                     sibling: bool = False) -> Any:
        n = len(self.calls)
        self.calls.append({"sampling": sampling, "prefix": prefix, "shared": shared,
                           "sibling": sibling})
        text = self.scripts[n]
        try:
            for i in range(0, len(text), 8):
                await asyncio.sleep(self.delays[n])
                self.yielded[n] += 1
                yield Piece(text[i:i + 8])
            yield Finished("stop", len(prompt), 0, len(text) // 8, 0.0, 1.0, 10.0)
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled.append(n)
            raise


def choose(scripts: list[str], delays: list[float], max_sentences: int = 3
           ) -> tuple[lead_choice.LeadRun, Scripts]:
    engine = Scripts(scripts, delays)
    prepared = Prepared("rag", weights=None,  # type: ignore[arg-type]
                        prompt=[1, 2, 3, 4, 5], prefix=(1, 2))
    gates = [LeadGate(support.prepare(SOURCES), allowed_urls(SOURCES), len(SOURCES), 0.6,
                      max_sentences) for _ in scripts]
    greedy = Sampling(max_tokens=64, temperature=0.0, top_p=1.0)
    chosen = lead_choice.best(engine, prepared, greedy, gates, 0.7)  # type: ignore[arg-type]
    run = asyncio.run(chosen)
    return run, engine


def test_the_best_supported_lead_is_chosen_and_the_candidates_share_the_prompt() -> None:
    run, engine = choose([INVENTED + DOCUMENTED, DOCUMENTED, INVENTED], [0.0, 0.0, 0.0])
    assert run.index == 1 and run.candidates == 3 and not run.gate.dropped
    assert "AuditMode" in run.gate.text
    assert [call["sampling"].temperature for call in engine.calls] == [0.0, 0.7, 0.7]
    # a greedy request's answer is the same each time: its sampled leads have fixed seeds
    assert [call["sampling"].seed for call in engine.calls] == [None, 1, 2]
    assert {call["shared"] for call in engine.calls} == {(1, 2, 3, 4)}  # all but the last token
    assert [call["sibling"] for call in engine.calls] == [False, True, True]


def test_a_tie_goes_to_the_greedy_lead() -> None:
    run, _ = choose([DOCUMENTED, DOCUMENTED], [0.0, 0.0])
    assert run.index == 0 and run.merit == (1, 1)


def test_a_perfect_lead_ends_the_wait_for_the_others() -> None:
    """Fault injected: the greedy candidate is slow; a sampled one finishes a perfect lead (as many
    sentences as a lead may have, all supported) first, and the slow one is stopped."""
    run, engine = choose([INVENTED * 3, DOCUMENTED], [0.05, 0.0], max_sentences=1)
    assert run.index == 1 and run.gate.kept and 0 in engine.cancelled
    assert engine.yielded[0] <= 2  # its second invented sentence (the gate's stop) is 15 pieces in
