"""The local Cassandra's log keeps no line (a warning can name a plate) past two days."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from connectors.servers.base import render


def test_cassandra_rolls_its_log_daily_and_keeps_one_day_of_archives(tmp_path: Path) -> None:
    dest = tmp_path / "logback.xml"
    render("logback.xml", dest, {"log_file": tmp_path / "system.log", "log_dir": tmp_path})
    policy = ET.parse(dest).getroot().find("appender/rollingPolicy")
    assert policy is not None
    assert policy.get("class", "").endswith("SizeAndTimeBasedRollingPolicy")
    assert "%d{yyyy-MM-dd}" in (policy.findtext("fileNamePattern") or "")
    assert policy.findtext("maxHistory") == "1"
