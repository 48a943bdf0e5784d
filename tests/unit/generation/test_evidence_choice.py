"""Evidence choice across pages and parts: the page that holds the question, each part of a
question, a procedure from its first step."""

from __future__ import annotations

from services.generation import evidence
from services.generation.sources import number_sources
from shared.settings_sections import EvidenceSettings
from tests.unit.generation.hits import hit


ASR_PROFILE = """1. In the Microsoft Intune admin center, create a custom profile for Windows PCs.
2. For OMA-URI, enter `./Vendor/MSFT/Policy/Config/Defender/AttackSurfaceReductionRules`.
3. In Value, enter the rule IDs and the state of each rule."""
OFFBOARD_PROFILE = """To offboard Windows devices with Intune, use this OMA-URI in a custom profile.

- OMA-URI: `./Device/Vendor/MSFT/WindowsAdvancedThreatProtection/Offboarding`

For the value, use the offboarding package, valid for 30 days."""
PROFILE_STATS = evidence.TermStats(1000, {"oma-uri": 30, "offboard": 40, "devices": 600,
                                          "intune": 150, "custom": 120, "profile": 100,
                                          "value": 300})


def test_the_page_holding_more_of_the_question_is_quoted() -> None:
    """The ASR page ranks first and its Intune steps hold most of the question, but not the
    "offboard" asked about; the page that holds every term of the question is quoted."""
    sources = number_sources([hit("enable-attack-surface-reduction", 2.0, text=ASR_PROFILE),
                              hit("configure-endpoints-mdm", 1.6, text=OFFBOARD_PROFILE)])
    question = ("Which OMA-URI do I use to offboard devices with an Intune custom profile, and "
                "what goes in the value?")

    def quoted(page_weight: float) -> set[int]:
        found = evidence.candidates(sources)
        settings = EvidenceSettings(page_weight=page_weight)
        return {item.n for item in evidence.choose(question, found, PROFILE_STATS, settings)}

    assert quoted(0.0) == {1}  # without the page's share, the first page's steps win
    assert quoted(EvidenceSettings().page_weight) == {2}


INTUNE_STEPS = "To create the custom profile in Intune:\n\n" + "\n".join(
    f"{i}. {step}" for i, step in enumerate([
        "Open the Intune admin center and select Devices.",
        "Select Configuration profiles, then Create profile.",
        "For Platform, select Windows 10 and later.",
        "For Profile type, select Templates, then Custom.", "Enter a name for the custom profile.",
        "Select Add to add an OMA-URI setting.", "In Name, type a name for the rule.",
        "In Data type, select String.", "Select Save, then Next.",
        "Assign the custom profile to a group."], start=1))
RULE_VALUES = """The value of each rule is one of:

- 1: Block (the rule blocks)
- 2: Audit (the rule only reports)
- 6: Warn (the user can bypass the block)"""
RULE_STATS = evidence.TermStats(1000, {"asr": 40, "rules": 200, "intune": 150, "custom": 120,
                                       "profile": 100, "value": 300, "audit": 60, "warn": 30})


def test_the_second_part_of_a_question_gets_its_units() -> None:
    """Ten steps answer "how do I set them" and fill the evidence; the values list answers the
    question's second part and is quoted in place of the steps that add none of its terms."""
    sources = number_sources([
        hit("enable-attack-surface-reduction", 2.0, text=INTUNE_STEPS, anchor="intune"),
        hit("enable-attack-surface-reduction", 1.4, text=RULE_VALUES, anchor="mdm")])
    question = ("How do I set ASR rules with an Intune custom profile, and which value means "
                "audit or warn?")

    def quoted(novelty_weight: float) -> list[str]:
        settings = EvidenceSettings(novelty_weight=novelty_weight)
        found = evidence.candidates(sources)
        return [item.text for item in evidence.choose(question, found, RULE_STATS, settings)]

    assert not {"- 2: Audit (the rule only reports)"} & set(quoted(0.0))  # ten steps, no values
    texts = quoted(EvidenceSettings().novelty_weight)
    assert {"- 2: Audit (the rule only reports)", "- 6: Warn (the user can bypass the block)",
            "The value of each rule is one of:"} <= set(texts)
    assert texts[0] == "1. Open the Intune admin center and select Devices."


LOCAL_SCRIPT = """1. Sign in to the Microsoft Defender portal.
2. Download the onboarding package for Windows devices.
3. Run WindowsDefenderATPLocalOnboardingScript.cmd as an administrator to onboard the device."""
SCRIPT_STATS = evidence.TermStats(1000, {"onboarding": 50, "package": 80, "script": 90,
                                         "administrator": 70, "run": 300})


def test_a_procedure_quoted_from_its_second_step_gets_the_first_when_the_budget_allows() -> None:
    """Steps 2 and 3 hold the question's terms and fill `max_units`; step 1 holds none of them,
    and a reader who starts at step 2 misses it: the budget left goes to it."""
    sources = number_sources([hit("configure-endpoints-script", 2.0, text=LOCAL_SCRIPT)])
    question = "How do I run the onboarding package script as administrator?"

    def quoted(budget: int) -> list[str]:
        settings = EvidenceSettings(max_units=2, block_chars=0, budget_chars=budget)
        found = evidence.candidates(sources)
        return [item.text[:3] for item in evidence.choose(question, found, SCRIPT_STATS, settings)]

    assert quoted(1000) == ["1. ", "2. ", "3. "]
    assert quoted(160) == ["2. ", "3. "]  # steps 2 and 3 take 153 characters: no room for step 1
