import json
import logging

from d400tui.logs import configure


def test_log_lines_are_json_and_never_carry_a_card_number(tmp_path) -> None:  # type: ignore[no-untyped-def]
    handler = configure(tmp_path / "d400.log", "INFO")
    log = logging.getLogger("d400.test")
    try:
        log.info("card %s typed", "4970100000000014")
        log.warning("plain %d", 3)
        try:
            raise ValueError("bad card 4970 1000 0000 0022")
        except ValueError:
            log.exception("failed")
        handler.flush()
        text = (tmp_path / "d400.log").read_text()
        assert "4970100000000014" not in text and "0000 0022" not in text
        lines = [json.loads(x) for x in text.splitlines()]
        assert lines[0]["message"] == "card 497010******0014 typed"
        assert lines[1]["message"] == "plain 3"
        assert "ValueError" in lines[2]["exception"] and "4970 10** **** 0022" in lines[2]["exception"]
    finally:
        logging.getLogger("d400").removeHandler(handler)
        handler.close()


def test_log_lines_scrub_every_form_the_card_field_takes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Tabs, NBSP, dots, full-width digits, and a repr's escapes (`%r` of a string): on main the
    scrubber knew spaces and dashes only, and `\\xa0` in a repr split the number."""
    handler = configure(tmp_path / "d400.log", "INFO")
    log = logging.getLogger("d400.test")
    forms = [
        "4970\t1000\t0000\t0014",
        "4970\u00a01000\u202f0000 0014",
        "4970.1000.0000.0014",
        "４９７０１０００００００００１４",
    ]
    try:
        for form in forms:
            log.info("typed %s", form)
            log.info("typed %r", form)
            log.info("typed %s", {"search": form})
        try:
            raise ValueError(forms[1])
        except ValueError:
            log.exception("failed")
        handler.flush()
        lines = [json.loads(x) for x in (tmp_path / "d400.log").read_text().splitlines()]
        for entry in lines:
            text = entry["message"] + entry.get("exception", "")
            digits = "".join(c for c in text.replace("\\xa0", " ").replace("\\u202f", " ") if c.isdecimal())
            assert "4970100000000014" not in digits and "４９７０１０００００００００１４" not in digits, entry
        assert len(lines) == 3 * len(forms) + 1
    finally:
        logging.getLogger("d400").removeHandler(handler)
        handler.close()
