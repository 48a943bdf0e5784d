"""Evidence: the units that answer, within the budget, an intro with its block, one page."""

from __future__ import annotations

from services.generation import evidence
from services.generation.evidence_patterns import AMOUNT
from services.generation.sources import number_sources
from shared.platforms import platform_order
from shared.settings_sections import EvidenceSettings
from tests.unit.generation.hits import hit

PROXY = """Defender for Endpoint can discover a proxy server using the `HTTPS_PROXY` environment variable.

To set the proxy for mdatp, use the following command:

```bash
mdatp config proxy set --value http://address:port
```

Upon success, attempt another connectivity test from the command line."""
OTHER = """Schedule a scan with a plist file on macOS. The scan runs at the time you set in the file.
Weekly scans can be full or quick scans."""
STATS = evidence.TermStats(1000, {"proxy": 40, "static": 30, "linux": 300, "mdatp": 200,
                                  "configure": 400, "scan": 80, "schedule": 60})


def choose(question: str, sources: list, **settings: object) -> list:
    found = evidence.candidates(sources)
    return evidence.choose(question, found, STATS, EvidenceSettings(**settings))


def test_a_command_comes_with_its_intro_verbatim() -> None:
    sources = number_sources([hit("linux-static-proxy-configuration", 2.0, text=PROXY),
                              hit("mac-schedule-scan", 1.0, text=OTHER)])
    items = choose("How do I configure a static proxy on Linux?", sources)
    texts = [item.text for item in items]
    assert "mdatp config proxy set --value http://address:port" in texts  # placeholder kept
    code = texts.index("mdatp config proxy set --value http://address:port")
    assert texts[code - 1] == "To set the proxy for mdatp, use the following command:"
    assert {item.n for item in items} == {1}  # nothing from the unrelated page
    assert items[code].kind == "code" and items[code].language == "bash"
    assert sum(len(t) for t in texts) <= 1000


def test_the_budget_bounds_the_evidence() -> None:
    long = "\n\n".join(f"Proxy fact number {i} says the proxy needs setting {i}." for i in range(60))
    items = choose("proxy setting", number_sources([hit("a", text=long)]), budget_chars=300)
    assert items and sum(len(item.text) + 1 for item in items) <= 300


def test_overlapping_chunks_are_quoted_once_in_document_order() -> None:
    sources = number_sources([hit("p", 2.0, text=PROXY), hit("p", 1.9, text=PROXY)])
    items = choose("How do I configure a static proxy?", sources)
    assert len({item.text for item in items}) == len(items)
    positions = [PROXY.index(item.text) for item in items]
    assert positions == sorted(positions)


def test_a_question_naming_a_platform_prefers_that_platforms_pages() -> None:
    hits = [hit("mac-schedule-scan", 2.0), hit("linux-schedule-scan-mde", 1.5),
            hit("schedule-antivirus-scans", 1.4)]
    ordered = platform_order("run a quick scan every saturday on our linux servers", hits)
    assert [h.url.rsplit("/", 1)[1] for h in ordered] == [
        "linux-schedule-scan-mde", "schedule-antivirus-scans", "mac-schedule-scan"]
    assert platform_order("run a quick scan every saturday", hits) == hits


def test_a_page_that_names_no_platform_is_about_windows() -> None:
    """The fault: "Contextual file and folder exclusions" names no platform and ranked above the
    Linux exclusions page for "how do I exclude a folder on Linux?", quoting `C:\\` paths."""
    neutral = hit("configure-contextual-file-folder-exclusions", 1.9)
    hits = [neutral, hit("linux-exclusions", 1.3)]
    linux = platform_order("how do I exclude a folder from scanning on Linux?", hits)
    assert [h.url.rsplit("/", 1)[1] for h in linux] == [
        "linux-exclusions", "configure-contextual-file-folder-exclusions"]
    assert platform_order("how do I exclude a folder on windows server 2019?", hits) == hits
    assert platform_order("how do I exclude a folder?", hits) == hits


def test_a_page_that_declares_its_platforms_is_placed_by_them() -> None:
    # the fault: "Behavioral blocking" covers Windows only, its title does not say so, and it
    # counted as neutral for a Linux question
    windows_only = hit("behavioral-blocking-containment", 2.0).model_copy(
        update={"platforms": ["windows"]})
    every = hit("network-protection", 1.9).model_copy(
        update={"platforms": ["linux", "macos", "windows"]})
    hits = [windows_only, every, hit("linux-support-perf", 1.0)]
    ordered = platform_order("high CPU on our linux servers", hits)
    assert [h.url.rsplit("/", 1)[1] for h in ordered] == [
        "network-protection", "linux-support-perf", "behavioral-blocking-containment"]
    assert platform_order("high CPU on windows 11", hits)[:2] == hits[:2]
    assert number_sources(hits)[0].platforms == ["windows"]  # the sources carry them to evidence


def test_no_evidence_from_another_platforms_page_while_the_asked_one_is_shown() -> None:
    """Fault injected: the macOS page scores higher in retrieval and matches the question's words
    better than the Linux page the question is about."""
    mac = ("To find what drives wdavdaemon CPU on macOS, run mdatp diagnostic real-time-protection-"
           "statistics --output json and review the top processes by scan count.")
    linux = "On Linux, collect the diagnostic output for support."
    question = "wdavdaemon is hammering the CPU on our linux servers: real-time protection statistics?"
    sources = number_sources(platform_order(question, [hit("mac-support-perf", 2.3, text=mac),
                                                       hit("linux-support-perf", 1.5, text=linux)]))
    stats = evidence.TermStats(1000, {"wdavdaemon": 5, "cpu": 20, "statistics": 10, "linux": 300,
                                      "protection": 200, "real-time": 50, "servers": 100})

    def chosen(shown: list) -> list:
        return evidence.choose(question, evidence.candidates(shown), stats, EvidenceSettings())

    items = chosen(sources)
    assert items and {item.n for item in items} == {1}
    assert sources[0].url.endswith("linux-support-perf") and "On Linux" in items[0].text
    alone = number_sources([hit("mac-support-perf", 2.3, text=mac)])  # nothing else is shown
    assert chosen(alone)


def test_what_two_pages_both_say_is_quoted_once() -> None:
    first = ("Set the following registry key:\n\n- Path: `HKLM\\SOFTWARE\\Policies\\Proxy`\n"
             "- Type: `REG_DWORD`\n\nThe proxy setting applies to every user of the device right away.")
    second = ("Type: `REG_DWORD`\n\nThe proxy setting applies to every user of the device right "
              "away, after a restart.")
    sources = number_sources([hit("a", 2.0, text=first), hit("b", 1.9, text=second)])
    items = choose("which registry key sets the proxy for every user?", sources,
                   other_page_ratio=0.0)
    texts = [item.text for item in items]
    assert sum("REG_DWORD" in text for text in texts) == 1
    assert sum("applies to every user of the device" in text for text in texts) == 1


WARN = """A user can unblock a warn block and open the file again.
When the user clicks allow on the warn block, the block is suppressed for 24 hours."""
WARN_STATS = evidence.TermStats(1000, {"warn": 30, "rule": 200, "block": 150, "user": 300,
                                       "unblock": 40, "warning": 60})


def test_a_question_after_an_amount_prefers_the_unit_that_states_one() -> None:
    question = "how long after a user clicks unblock on a warn rule does the block come back?"
    found = evidence.candidates(number_sources([hit("asr-warn", text=WARN)]))

    def first(amount_weight: float) -> str:
        items = evidence.choose(question, found, WARN_STATS,
                                EvidenceSettings(amount_weight=amount_weight, max_units=1))
        return items[0].text

    assert first(0.0).startswith("A user can unblock")  # more of the question's words
    assert first(0.2) == ("When the user clicks allow on the warn block, the block is suppressed "
                          "for 24 hours.")
    assert not AMOUNT.search("The block is suppressed until the user clicks allow.")
    assert AMOUNT.search("retried for up to three days")
    assert AMOUNT.search("version 101.23052.0009")
    assert AMOUNT.search("There is a limit of 15,000 indicators per tenant.")
    assert AMOUNT.search("each user can have up to five concurrent, onboarded devices")
    assert not AMOUNT.search("Steps 1, 2 and 3 apply to Windows 10, 11.")


def test_a_sentence_that_only_points_elsewhere_yields_to_one_that_says_something() -> None:
    text = ("For more information about the static proxy for mdatp, see Configure the proxy.\n"
            "The static proxy for mdatp is set in the managed configuration file.")
    found = evidence.candidates(number_sources([hit("linux-static-proxy-configuration", text=text)]))

    def first(navigation_weight: float) -> str:
        return evidence.choose("static proxy for mdatp", found, STATS, EvidenceSettings(
            navigation_weight=navigation_weight, max_units=1, length_weight=0.0))[0].text

    assert first(0.0).startswith("For more information")  # ties go to document order
    assert first(0.2).startswith("The static proxy for mdatp is set")


def test_rows_of_one_table_pay_for_its_header_once() -> None:
    header = "| Registry entry | Value |\n| --- | --- |"
    rows = ["| TelemetryProxyServer | the proxy address and port |",
            "| DisableEnterpriseAuthProxy | 1 to use the static proxy |"]
    table = "\n".join([header, *rows])
    found = evidence.candidates(number_sources([hit("proxy", text=table)]))
    row_units = [c for c in found if c.unit.kind == "row"]
    budget = len(row_units[0].unit.text) + len(rows[1]) + 2  # one header, two rows
    assert budget < sum(c.cost for c in row_units)  # two rows with a header each would not fit
    items = evidence.choose("which registry entry sets the static proxy address", found, STATS,
                            EvidenceSettings(budget_chars=budget))
    assert [item.text for item in items] == ["\n".join([header, *rows])]


def test_the_docs_trial_promo_is_never_evidence() -> None:
    """Fault injected: the page opens with learn.microsoft.com's trial promo (on 90 of 226 MDE
    pages), which names the product the question names."""
    promo = ("> Want to experience Defender for Endpoint? [Sign up for a free trial.]"
             "(https://go.microsoft.com/fwlink/p/?linkid=2225630)\n\n")
    sources = number_sources([hit("linux-static-proxy-configuration", 2.0, text=promo + PROXY)])
    texts = [item.text for item in choose("Defender for Endpoint static proxy on Linux?", sources)]
    assert "mdatp config proxy set --value http://address:port" in texts
    assert not [text for text in texts if "experience" in text or "free trial" in text.lower()]


def test_an_intro_whose_block_is_not_shown_is_never_quoted_alone() -> None:
    """Fault injected: the passage ends on an intro ("… use the following command:") whose code
    block fell into the next chunk; quoted alone it would promise a command that never comes."""
    cut = ("Defender for Endpoint can discover a proxy server using the `HTTPS_PROXY` environment "
           "variable.\n\nTo set the static proxy for mdatp on Linux, use the following command:")
    sources = number_sources([hit("linux-static-proxy-configuration", 2.0, text=cut)])
    texts = [item.text for item in choose("How do I set a static proxy for mdatp on Linux?",
                                          sources)]
    assert texts and not [text for text in texts if text.rstrip().endswith(":")]
    whole = [item.text for item in choose("How do I set a static proxy for mdatp on Linux?",
                                          number_sources([hit("p", 2.0, text=PROXY)]))]
    assert "To set the proxy for mdatp, use the following command:" in whole  # with its block


def test_a_command_two_sections_list_is_quoted_once() -> None:
    """Fault injected: one section lists the cmdlet as step 1, another as a bullet in backticks;
    both are too short for the 8-word check, and the answer said the cmdlet twice."""
    steps = ("To turn on network protection on Windows Server, run:\n\n"
             "1. Set-MpPreference -EnableNetworkProtection Enabled\n"
             "2. Set-MpPreference -AllowNetworkProtectionOnWinServer 1")
    bullet = ("Alternative option for network protection:\n\n"
              "- `Set-MpPreference -EnableNetworkProtection Enabled`")
    sources = number_sources([hit("network-protection", 2.0, anchor="servers", text=steps),
                              hit("network-protection", 1.9, anchor="alternative", text=bullet)])
    items = choose("network protection on server: Set-MpPreference EnableNetworkProtection?",
                   sources)
    said = [item.text for item in items if "EnableNetworkProtection Enabled" in item.text]
    assert said == ["1. Set-MpPreference -EnableNetworkProtection Enabled"]


def test_each_part_of_a_question_gets_its_unit() -> None:
    # the fault: ranked once, the two units that both answer "minimum cores on windows" took the
    # places and the one answering the question's second part ("on top of what the OS needs?")
    # was left out
    text = ("Windows devices need a minimum of processor cores for Defender.\n\n"
            "The processor cores minimum on Windows devices is 2, with 4 cores preferred.\n\n"
            "These requirements come in addition to the operating system requirements.")
    stats = evidence.TermStats(1000, {"minimum": 50, "processor": 40, "cores": 30,
                                      "windows": 300, "addition": 90, "operating": 200,
                                      "requirements": 120})
    question = "minimum processor cores on windows? is that in addition to operating requirements?"
    found = evidence.candidates(number_sources([hit("minimum-requirements", text=text)]))
    items = evidence.choose(question, found, stats, EvidenceSettings(max_units=2,
                                                                     length_weight=0.0))
    assert [item.text for item in items] == [
        "The processor cores minimum on Windows devices is 2, with 4 cores preferred.",
        "These requirements come in addition to the operating system requirements."]


def test_what_a_command_prints_is_never_quoted_alone() -> None:
    """A console block right after a command's block is its output ("Folder exclusion configured
    successfully"): short, full of the question's words, and no answer without the command."""
    examples = "\n\n".join(
        f"```bash\nmdatp exclusion folder {verb} --path /var/log/ --scope epp\n```\n\n"
        f"```console\nFolder exclusion {verb}d successfully\n```" for verb in ("add", "remove"))
    text = "You can add or remove a folder exclusion with the epp scope.\n\n" + examples
    items = choose("how do I add an epp folder exclusion for mdatp?",
                   number_sources([hit("linux-exclusions", 2.0, text=text)]))
    texts = [item.text for item in items]
    assert "mdatp exclusion folder add --path /var/log/ --scope epp" in texts
    assert not [t for t in texts if "successfully" in t]
    standalone = "```console\nmdatp health --field real_time_protection_enabled\n```"
    alone = choose("how do I check real time protection with mdatp health?",
                   number_sources([hit("health", 2.0, text="Run:\n\n" + standalone)]))
    assert "mdatp health --field real_time_protection_enabled" in [i.text for i in alone]


def test_the_rows_of_a_quoted_table_answer_together() -> None:
    """Two rows of one table hold the same question terms and open with the same word after the
    shared header: neither the redundancy check nor the per-term credit may keep the second out
    while a sentence that says less takes its place."""
    header = "| Group Policy | Registry key | Registry entry | Value |\n| --- | --- | --- | --- |"
    rows = ["| Configure authenticated proxy usage for telemetry | `HKLM\\DataCollection` | "
            "`DisableEnterpriseAuthProxy` | 1 |",
            "| Configure telemetry | `HKLM\\DataCollection` | `TelemetryProxyServer` | ip:port |"]
    text = ("The static proxy for telemetry is set in the registry.\n\n"
            + "\n".join([header, *rows]) + "\n\nThe registry proxy applies to telemetry traffic.")
    items = choose("which registry values set a static proxy for telemetry?",
                   number_sources([hit("configure-proxy-internet", 2.0, text=text)]))
    quoted = "\n".join(item.text for item in items)
    assert "DisableEnterpriseAuthProxy" in quoted and "TelemetryProxyServer" in quoted
