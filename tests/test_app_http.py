"""The app over HTTP, as a program would use it: gradio_client against `python -m rag serve` (subprocess)."""

from __future__ import annotations

import re

import pytest


@pytest.fixture(scope="module")
def ui_client(ui_app_server):
    from gradio_client import Client

    return Client(ui_app_server["url"], verbose=False)


def _ask(client, question: str, body=None, since="", until="", speaker=None, kinds=()):
    return client.predict(question, [], body, None, since, until, speaker, list(kinds), api_name="/ask")


def test_binds_to_loopback(ui_app_server):
    log = ui_app_server["log"].read_text(errors="replace")
    assert "127.0.0.1" in log and "0.0.0.0" not in log


def test_ask_cites_meeting_and_speaker(ui_client):
    chat, cards, question_box, pick, ctx, cite, *_ = _ask(ui_client, "下関市は生成AIをどこで使えるようにしたのか")
    assert question_box == ""
    # the copy text of the first card comes with the answer, as plain text
    assert cite.startswith("「") and cite.endswith("）") and "<" not in cite and "&" not in cite, cite
    answer = chat[-1]["content"][0]["text"] if isinstance(chat[-1]["content"], list) else chat[-1]["content"]
    assert re.search(r"\]\(#cite-\d\)", answer), answer  # [n] markers link to the cards
    assert 'data-speaker="総合政策部長(岸本芳郎君)"' in cards
    assert "下関市議会" in cards and "第3回定例会" in cards and "令和6年9月18日" in cards
    # the same session can export what it was just told (state is per session)
    md, path = ui_client.predict(api_name="/export")
    md, path = (x.get("value") if isinstance(x, dict) else x for x in (md, path))  # visibility updates
    assert "総合政策部長(岸本芳郎君)" in md and "## 出典" in md
    assert path and path.endswith(".md")


def test_english_question(ui_client):
    chat, cards, *_ = _ask(ui_client, "When is the deadline for Nagasaki's system standardisation?")
    assert 'class="cite-card"' in cards and "長崎市" in cards


def test_filter_restricts_to_body(ui_client):
    _, cards, *_ = _ask(ui_client, "生成AIの活用について", body="長崎市")
    bodies = re.findall(r'data-body="([^"]*)"', cards)
    assert bodies and set(bodies) == {"長崎市"}, bodies


def test_bad_date_is_explained(ui_client):
    chat, cards, question_box, *_ = _ask(ui_client, "生成AI", since="2024-02-30")
    text = str(chat[-1]["content"])
    assert "開始日" in text and question_box == "生成AI"


def test_upload_rejects_bad_files_and_keeps_the_index(ui_client, tmp_path):
    from gradio_client import handle_file

    before = ui_client.predict(api_name="/stats")
    bad = tmp_path / "not_minutes.json"
    bad.write_text("hello, not json", encoding="utf-8")
    fake_pdf = tmp_path / "fake.pdf"
    fake_pdf.write_text("plain text pretending to be a PDF", encoding="utf-8")
    result = ui_client.predict([handle_file(str(bad)), handle_file(str(fake_pdf))], api_name="/upload")
    result = result.replace("\\", "")  # Markdown escapes
    assert "❌" in result and "not_minutes.json" in result and "JSON ではありません" in result, result
    assert "fake.pdf" in result and "PDF ではありません" in result, result
    docs = lambda s: re.search(r"文書数 \| \*\*(\d+)\*\*", s).group(1)  # noqa: E731
    assert docs(ui_client.predict(api_name="/stats")) == docs(before)
