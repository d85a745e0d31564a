"""Where prices come from without litellm: the shipped snapshot, an installed litellm's map
when at least as new, a map fetched with `llm-cost prices update` (against a local HTTP
server); the version names which one."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from llm_cost_hooks import PriceMapUpdateError
from llm_cost_hooks.cli import main
from llm_cost_hooks.pricing import PriceBook, _map_source
from llm_cost_hooks.pricing._cli import update_price_map
from llm_cost_hooks.tokens import TokenCounter

SNAPSHOT = _map_source.SNAPSHOT_FILE
USAGE = {"input_tokens": 12_000, "output_tokens": 900, "cache_read_tokens": 4_000}


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLM_COST_HOOKS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LLM_COST_HOOKS_PRICE_MAP", raising=False)
    monkeypatch.delenv("LLM_COST_HOOKS_PRICE_OVERRIDES", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def no_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_map_source, "_installed_litellm_map", lambda: None)


def test_snapshot_file_matches_its_record() -> None:
    info = _map_source.snapshot_info()
    assert hashlib.sha256(SNAPSHOT.read_bytes()).hexdigest() == info["sha256"]
    assert info["litellm_version"] and info["snapshot_date"]


def test_without_litellm_the_snapshot_prices(no_litellm: None) -> None:
    book = PriceBook()
    assert book.price_map_path == SNAPSHOT
    version = _map_source.snapshot_info()["litellm_version"]
    assert book.version.startswith(f"litellm-snapshot-{version}+")
    assert book.cost(USAGE, "gpt-4o").total > 0
    assert book.cost(USAGE, "claude-sonnet-4-5").total > 0


def test_snapshot_prices_equal_litellm_completion_cost(no_litellm: None) -> None:
    litellm = pytest.importorskip(
        "litellm", reason="litellm (the dev extra) is the reference for price parity"
    )
    book = PriceBook()
    assert book.price_map_path == SNAPSHOT
    for model in ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gemini/gemini-2.5-flash"):
        prompt, completion = litellm.cost_per_token(model=model, prompt_tokens=12_000, completion_tokens=900)
        ours = book.cost({"input_tokens": 12_000, "output_tokens": 900}, model).total
        assert ours == pytest.approx(prompt + completion, rel=1e-9), model
        response = litellm.ModelResponse(
            model=model, usage=litellm.Usage(prompt_tokens=12_000, completion_tokens=900, total_tokens=12_900)
        )
        assert ours == pytest.approx(
            litellm.completion_cost(completion_response=response, model=model), rel=1e-9
        )


def test_an_older_installed_litellm_loses_to_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "old_map.json"
    old.write_text(json.dumps({"gpt-4o": {"input_cost_per_token": 1.0, "output_cost_per_token": 1.0}}))
    monkeypatch.setattr(_map_source, "_installed_litellm_map", lambda: (old, "1.0.0"))
    assert _map_source.default_map_source().path == SNAPSHOT
    monkeypatch.setattr(_map_source, "_installed_litellm_map", lambda: (old, "999.0.0"))
    source = _map_source.default_map_source()
    assert source.path == old and source.label == "litellm-999.0.0"


def test_tokens_are_counted_from_the_packaged_files(no_litellm: None) -> None:
    count = TokenCounter().count_text("hello world", "gpt-4o")
    assert (count.tokens, count.estimated, count.encoding) == (2, False, "o200k_base")


# ------------------------------------------------------------ llm-cost prices update


class _Handler(BaseHTTPRequestHandler):
    # one table for the class: the tests set the answers the server gives
    routes: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def do_GET(self) -> None:
        status, body = self.routes.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    # A newer map than the snapshot: same models, gpt-4o at a price no real map has.
    data = json.loads(SNAPSHOT.read_bytes())
    data["gpt-4o"] = {**data["gpt-4o"], "input_cost_per_token": 1e-3}
    _Handler.routes = {
        "/map.json": (200, json.dumps(data).encode()),
        "/html": (200, b"<html>rate limited</html>"),
        "/tiny.json": (200, json.dumps({"gpt-4o": data["gpt-4o"]}).encode()),
    }
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_prices_update_fetches_and_default_books_use_it(
    server: str, _cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = PriceBook().cost({"input_tokens": 1000}, "gpt-4o").total
    assert main(["prices", "update", "--url", f"{server}/map.json"]) == 0
    assert "priced models" in capsys.readouterr().out
    book = PriceBook()
    assert book.price_map_path == _cache_dir / "model_prices_and_context_window.json"
    assert book.version.startswith("fetched-20")
    assert book.cost({"input_tokens": 1000}, "gpt-4o").total == pytest.approx(1.0)
    assert before != pytest.approx(1.0)
    assert main(["prices", "show"]) == 0
    assert book.version in capsys.readouterr().out
    assert main(["prices", "reset"]) == 0
    assert PriceBook().cost({"input_tokens": 1000}, "gpt-4o").total == pytest.approx(before)


@pytest.mark.parametrize(
    "path, match",
    [("/missing.json", "HTTP 404"), ("/html", "did not return JSON"), ("/tiny.json", "priced models")],
)
def test_a_bad_download_changes_nothing(server: str, _cache_dir: Path, path: str, match: str) -> None:
    with pytest.raises(PriceMapUpdateError, match=match):
        update_price_map(f"{server}{path}")
    assert not (_cache_dir / "model_prices_and_context_window.json").exists()


def test_unreachable_server_is_a_clear_cli_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    assert main(["prices", "update", "--url", f"http://127.0.0.1:{port}/map.json", "--timeout", "5"]) == 1
    assert "Cannot fetch" in capsys.readouterr().err


def test_report_names_the_price_map_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from llm_cost_hooks import CostRecord
    from llm_cost_hooks.ledger import open_ledger

    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    ledger.write(CostRecord(model="gpt-4o", cost_usd=0.01, tenant="acme"))
    ledger.close()
    assert main(["report", str(tmp_path / "l.db"), "--by", "tenant"]) == 0
    out = capsys.readouterr().out
    version = PriceBook.default().version
    assert version.startswith(("litellm-", "fetched-")) and f"Price map in use: {version} " in out
