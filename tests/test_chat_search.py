"""Chinese-aware full-text search over the conversations a user belongs to."""

from __future__ import annotations

from chat.search import index_terms, parse_query, snippet
from tests.chat_helpers import direct, group, send
from tests.conftest import Connect


def test_cjk_text_is_indexed_by_characters_and_bigrams_and_latin_by_words() -> None:
    terms = index_terms("关于召开 Q4 工作会议的通知")
    assert {"会议", "工作", "通知", "q4", "会"} <= set(terms)
    assert "议的" in terms  # bigrams cross word boundaries: no dictionary needed
    assert index_terms("ＡＢＣ") == ["abc"]  # full-width folds to half-width


def test_a_snippet_marks_every_hit_of_every_phrase() -> None:
    text = "请各科室于周五前提交预算，预算表见附件。"
    found = snippet(text, parse_query("预算"))
    assert found is not None
    assert [found.text[s:e] for s, e in found.highlights] == ["预算", "预算"]
    long = "前言" * 100 + "预算调整" + "结尾" * 100
    cut = snippet(long, parse_query("预算"))
    assert cut is not None and cut.text.startswith("…") and cut.text.endswith("…")
    assert [cut.text[s:e] for s, e in cut.highlights] == ["预算"]
    assert snippet(text, parse_query("预 算 会议")) is None


async def test_search_finds_chinese_words_in_my_conversations_with_marked_snippets(
        connect: Connect) -> None:
    a, b, outsider = await connect("staff01"), await connect("staff02"), \
        await connect("staff09")
    mine = await direct(a, "staff02")
    theirs = await direct(outsider, "staff10")
    hit = await send(a, mine, "明天下午三点在三楼会议室召开预算会议")
    await send(a, mine, "午饭吃什么")
    await send(outsider, theirs, "预算会议改期")
    results = (await b.ok("msg:search", {"q": "预算会议"}))["results"]
    assert [r["message"]["id"] for r in results] == [hit["id"]]
    marked = results[0]
    assert [marked["snippet"][s:e] for s, e in marked["highlights"]] == ["预算会议"]
    assert (await b.ok("msg:search", {"q": "会议 三楼"}))["results"][0]["message"]["id"] == \
        hit["id"]
    assert (await b.ok("msg:search", {"q": "会议室预算"}))["results"] == []  # not as written
    other = await group(a, ["staff02"])
    await send(a, other, "另一个会议")
    scoped = (await b.ok("msg:search", {"q": "会议", "conv_id": other}))["results"]
    assert [r["message"]["conv_id"] for r in scoped] == [other]
    assert (await b.call("msg:search", {"q": "，。"}))["error"]["code"] == "bad_request"
