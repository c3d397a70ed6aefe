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
