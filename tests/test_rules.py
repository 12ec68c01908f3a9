"""The rules stage: each rule as a pure function on hand-written texts, the decision order, and the Spark job."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from curation.rules import c4, gopher
from curation.rules.blocklist import blocked_by, load_blocklist, normalize_url
from curation.rules.language import identify_language, unknown_languages, words
from curation.rules.pii import redact_pii
from curation.rules.stage import (
    KEPT,
    RulesJob,
    RulesOptions,
    TallyParam,
    batch_tally,
    decide,
    decide_batch,
    rules_documents,
    summarize,
)

ARTICLE = (
    "The river town grew slowly around a wooden bridge that farmers used to bring their grain to the market.\n"
    "Over the following century, merchants built stone houses along the bank and opened a small school.\n"
    "When the railway arrived in 1871, the old bridge was replaced with an iron one that still stands today.\n"
    "Historians have argued that the town owes its character to that mixture of trade and patient farming.\n"
    "Visitors can walk the riverside path, which follows the route of the original towpath for three miles.\n"
    "Local volunteers maintain a museum with maps, letters and tools collected from families in the valley."
)
QUALITY = gopher.QualityOptions()
REPETITION = gopher.RepetitionOptions()


# --- language ------------------------------------------------------------------------------------------


def test_language_id_and_cjk_word_counts():
    assert identify_language(ARTICLE)[0] == "en" and identify_language(ARTICLE)[1] >= 0.9
    japanese = (
        "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
        "何でも薄暗いじめじめした所で泣いていた事だけは記憶している。"
    )
    assert identify_language(japanese)[0] == "ja"
    assert identify_language("") == (None, 0.0)
    assert identify_language("\x00\x01 < Back to Blog. We are pleased to announce the new release today.")[0] == "en"
    chinese = "北京是中华人民共和国的首都" * 3
    assert len(words(chinese)) == len(chinese)  # one word per character, not one run
    assert words("Hello, world 東京 ok") == ["Hello,", "world", "東", "京", "ok"]
    assert unknown_languages(["en", "zh", "ja", "xx-unknown", "english"]) == ["xx-unknown", "english"]


# --- Gopher quality ------------------------------------------------------------------------------------


def test_gopher_quality_passes_an_article_and_names_each_failure():
    assert gopher.quality_failure(ARTICLE, QUALITY) is None
    assert gopher.quality_failure("The cat sat on the mat.", QUALITY) == ("word_count", 6.0)
    assert gopher.quality_failure(" ".join(["a"] * 60), QUALITY)[0] == "mean_word_length"
    assert gopher.quality_failure(" ".join(["internationalization"] * 60), QUALITY)[0] == "mean_word_length"
    hashes = ARTICLE + " #tag" * 12
    assert gopher.quality_failure(hashes, QUALITY)[0] == "hash_ratio"
    assert gopher.quality_failure(ARTICLE + " ..." * 12, QUALITY)[0] == "ellipsis_ratio"
    bullets = "\n".join(f"- {line}" for line in ARTICLE.split("\n"))
    assert gopher.quality_failure(bullets, QUALITY) == ("bullet_lines", 1.0)
    trailing = "\n".join(line + "…" if i < 3 else line for i, line in enumerate(ARTICLE.split("\n")))
    assert gopher.quality_failure(trailing, QUALITY) == ("ellipsis_lines", 0.5)
    numbers = ARTICLE + " " + " ".join(str(n) for n in range(40))
    assert gopher.quality_failure(numbers, QUALITY)[0] == "alpha_words"
    no_stop = " ".join(w for w in ARTICLE.split() if w.lower() not in gopher.STOP_WORDS)
    assert gopher.quality_failure(no_stop, QUALITY)[0] == "stop_words"
    assert gopher.quality_failure(no_stop, QUALITY, skip={"stop_words"}) is None
    assert gopher.quality_failure("", QUALITY) == ("word_count", 0.0)


def test_gopher_repetition_checks_lines_paragraphs_and_ngrams():
    assert gopher.repetition_failure(ARTICLE, REPETITION) is None
    lines = ARTICLE.split("\n")
    repeated_lines = "\n".join(lines + lines[:3])
    assert gopher.repetition_failure(repeated_lines, REPETITION) == ("duplicate_lines", pytest.approx(3 / 9))
    paragraphs = "\n\n".join([ARTICLE, "A short note.", ARTICLE])
    assert gopher.repetition_failure(paragraphs, REPETITION, skip={"duplicate_lines"})[0] == "duplicate_paragraphs"
    assert gopher.duplicate_fractions(["a", "b", "a", "a"]) == (0.5, 0.5)
    assert gopher.duplicate_fractions([]) == (0.0, 0.0)
    spam = ARTICLE.replace("\n", " ") + " buy now" * 40
    assert gopher.repetition_failure(spam, REPETITION)[0] == "top_2gram_chars"
    # a long repeated passage that is neither a repeated line nor a frequent short n-gram: the first
    # occurrence is not counted, the repeat's 5-grams are counted once each (the walk jumps 5 words)
    passage = (
        "the quick brown fox jumps over the lazy dog near a quiet farm where an old miller once kept "
        "his horses and three goats there"
    )
    copied = " ".join(ARTICLE.split("\n")[:2]) + " " + passage + " and later " + passage
    skip = {"top_2gram_chars", "top_3gram_chars", "top_4gram_chars"}
    check, share = gopher.repetition_failure(copied, REPETITION, skip=skip)
    counted = "".join(passage.split())  # 25 words: 5 jumps of 5 words
    assert check == "duplicated_5gram_chars" and share == pytest.approx(len(counted) / len(copied))
    assert gopher.repetition_failure("one", REPETITION) is None


def test_ngram_fractions_are_datatrove_definitions():
    """find_top_duplicate and find_all_duplicate of datatrove's GopherRepetitionFilter, written out as the
    oracle, against the vectorized versions on random word sequences."""
    import random
    from collections import Counter

    import numpy as np

    def find_top_duplicate(ngrams):
        text, count = Counter(ngrams).most_common(1)[0]
        return len(text) * count

    def find_all_duplicate(words, n):
        seen, repeated, index = set(), 0, 0
        while index < len(words) - n + 1:
            ngram = "".join(words[index : index + n])
            if ngram in seen:
                repeated, index = repeated + len(ngram), index + n
            else:
                seen.add(ngram)
                index += 1
        return repeated

    rng = random.Random(0)
    for _ in range(200):
        vocabulary = [rng.choice(("a", "bb", "ccc", "dddd")) + str(i) for i in range(rng.randint(2, 10))]
        words = [rng.choice(vocabulary) for _ in range(rng.randint(2, 60))]
        ids: dict[str, int] = {}
        word_ids = np.array([ids.setdefault(w, len(ids)) for w in words], np.uint64)
        char_prefix = np.concatenate(([0], np.cumsum([len(w) for w in words])))
        keys = None
        for n in range(1, min(10, len(words)) + 1):
            keys = gopher.ngram_keys(word_ids, n, keys)
            if n in gopher.TOP_NGRAM_SIZES:
                ngrams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
                assert gopher.top_ngram_chars(keys, char_prefix, n) == find_top_duplicate(ngrams)
            if n in gopher.DUPLICATED_NGRAM_SIZES:
                assert gopher.duplicated_ngram_chars(keys, char_prefix, n) == find_all_duplicate(words, n)
    six = "w1 w2 w3 w4 w5 w6".split()  # twice: the second w1..w5 is met again, then the walk is past the end
    word_ids = np.arange(6, dtype=np.uint64)[[0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]]
    keys = None
    for n in range(1, 6):
        keys = gopher.ngram_keys(word_ids, n, keys)
    assert gopher.duplicated_ngram_chars(keys, np.arange(13) * 2, 5) == len("".join(six[:5]))


# --- C4 ------------------------------------------------------------------------------------------------


def test_c4_line_cleaning_and_page_rules():
    page = "\n".join(
        [
            ARTICLE,
            "Home | About | Contact",
            "Please enable JavaScript to view the comments.",
            "This site uses cookies to improve your experience.",
            "Read our privacy policy today.",
            "Too short.",
            "   ",
        ]
    )
    cleaned = c4.clean_page(page, c4.Options())
    assert cleaned.text == ARTICLE and cleaned.failure is None and cleaned.lines_removed == 5
    assert cleaned.chars_removed == len(page) - len(ARTICLE)
    assert c4.clean_page("lorem Ipsum dolor sit amet.", c4.Options()).failure == ("lorem_ipsum", 1.0)
    assert c4.clean_page(ARTICLE + "\nfunction f() { return 1; }", c4.Options()).failure == ("curly_brace", 1.0)
    two = "One sentence is here. And another one follows it.\nNo end mark here"
    assert c4.clean_page(two, c4.Options()).failure == ("min_sentences", 2.0)
    assert c4.clean_page(two, c4.Options(min_sentences=2)).failure is None
    assert c4.line_removed_by("Too short.", c4.Options(min_words_per_line=2)) is None
    assert c4.line_removed_by("x" * 1001 + " is long.", c4.Options()) == "max_word_length"
    assert c4.line_removed_by("No end mark here", c4.Options(), skip={"terminal_punctuation"}) is None
    assert c4.count_sentences("Dr. Who? Yes! 東京です。そうです。") == 5


# --- blocklists ----------------------------------------------------------------------------------------


def test_blocklists_match_domains_subdomains_and_exact_urls(tmp_path):
    (tmp_path / "adult").mkdir()
    domains = "# UT1 style\n\nbad.example\n*.worse.example\nnot a host\nexample..com\n"
    (tmp_path / "adult" / "domains").write_text(domains)
    (tmp_path / "adult" / "urls").write_text("good.example/one/page\n")
    adult = load_blocklist("adult", str(tmp_path / "adult"))
    assert adult.entries == {"domains": 2, "urls": 1, "comments": 1, "blank": 1, "invalid": 2}
    phishing = tmp_path / "phishing.txt"
    phishing.write_text("phish.example\nbad.example\n")
    lists = [adult, load_blocklist("phishing", str(phishing))]
    assert blocked_by("https://bad.example/x", lists) == "adult"  # the first category that matches
    assert blocked_by("http://a.b.BAD.example:8080/", lists) == "adult"
    assert blocked_by("http://notbad.example/", lists) is None
    assert blocked_by("http://x.worse.example./", lists) == "adult"
    assert blocked_by("https://good.example/one/page/#top", lists) == "adult"
    assert blocked_by("https://good.example/one/page/other", lists) is None
    assert blocked_by("http://phish.example", lists) == "phishing"
    assert blocked_by(None, lists) is None and blocked_by("not a url", lists) is None
    assert normalize_url("HTTP://Good.Example:80/a/?q=1") == "good.example/a?q=1"


# --- PII -----------------------------------------------------------------------------------------------


def test_pii_redaction_of_emails_public_ips_and_phones():
    text = (
        "Write to jane.doe+news@mail.example.org or ops@example.co.uk. Server 8.8.8.8 answered; "
        "the router is 192.168.1.1, loopback 127.0.0.1, docs net 203.0.113.5, version 1.2.3.4, v2.10.0.1, "
        "not an address 999.1.1.1 or 1.2.3.4.5. Call (555) 123-4567 or +44 20 7946 0958."
    )
    redacted, counts = redact_pii(text)
    assert counts == {"email": 2, "ip": 1, "phone": 0}
    assert "<EMAIL_ADDRESS> or <EMAIL_ADDRESS>." in redacted and "Server <IP_ADDRESS> answered" in redacted
    for kept in ("192.168.1.1", "127.0.0.1", "203.0.113.5", "version 1.2.3.4", "v2.10.0.1", "999.1.1.1", "1.2.3.4.5"):
        assert kept in redacted
    redacted, counts = redact_pii(text, phones=True)
    assert counts["phone"] == 2 and "Call <PHONE_NUMBER> or <PHONE_NUMBER>." in redacted
    clean = "no pii here, 3.14 and 2024."
    assert redact_pii(clean) == (clean, {"email": 0, "ip": 0, "phone": 0})


# --- the decision -------------------------------------------------------------------------------------


def test_decide_order_bad_input_and_kept_text(tmp_path):
    options = RulesOptions()
    kept = decide(ARTICLE + "\nMail me at someone@example.com today please.\nShare", "http://ok.example/", options)
    assert kept.reason == KEPT and kept.language == "en" and kept.c4_lines_removed == 1
    assert kept.text.endswith("Mail me at <EMAIL_ADDRESS> today please.") and kept.pii["email"] == 1
    assert decide(None, None, options).reason == "input:null_text"
    assert decide(" \n ", None, options).reason == "input:empty_text"
    assert decide("\x00\x01\ufffd" * 100 + ARTICLE, None, options).reason == "input:garbage"
    assert decide("word " * 200_000, None, options).reason.startswith(("gopher", "language"))  # one huge line
    german = (
        "Die Stadt am Fluss wuchs langsam um eine hölzerne Brücke, über die Bauern ihr Getreide zum Markt "
        "brachten. Im folgenden Jahrhundert bauten Kaufleute Steinhäuser am Ufer und eröffneten eine Schule."
    )
    assert decide(german, None, options)[:2] == ("language:not_listed", pytest.approx(0.99, abs=0.01))
    assert decide(german, None, RulesOptions(languages=("de",))).reason == "gopher_quality:word_count"
    blocked = tmp_path / "list"
    blocked.write_text("spam.example\n")
    with_list = RulesOptions(blocklists=(load_blocklist("spam", str(blocked)),))
    assert decide(german, "http://www.spam.example/", with_list).reason == "blocklist:spam"  # before language
    assert decide(ARTICLE, None, RulesOptions(skip=frozenset({"language", "c4"}))).language is None
    assert decide(ARTICLE + " {", None, RulesOptions(skip=frozenset({"c4:curly_brace"}))).reason == KEPT


def test_decide_batch_keeps_input_columns_and_recounts():
    batch = pa.RecordBatch.from_pydict(
        {
            "doc_id": ["a", "b"],
            "url": ["http://x.example/", None],
            "language": ["ko", "pl"],
            "text": [ARTICLE + "\nShare", None],
            "n_words": pa.array([1, 2], pa.int32()),
        }
    )
    out = decide_batch(batch, RulesOptions()).to_pydict()
    assert list(out)[:5] == ["doc_id", "url", "language", "text", "n_words"]
    assert out["language"] == ["en", None] and out["reason"] == [KEPT, "input:null_text"]
    assert out["n_words"] == [len(ARTICLE.split()), None] and out["text"][0] == ARTICLE
    assert out["c4_lines_removed"] == [1, 0] and out["pii_redactions"] == [0, 0]


def test_batch_tallies_add_up_to_the_summary():
    batch = pa.RecordBatch.from_pydict(
        {
            "doc_id": ["a", "b", "c"],
            "url": [None] * 3,
            "text": [ARTICLE + "\nShare\nMail a@example.com now, please.", None, "Short."],
        }
    )
    tally = batch_tally(decide_batch(batch, RulesOptions()))
    assert tally["rows"]["rows"] == 3 and tally["languages"] == {"en": 2, "none": 1}
    assert tally["reasons"] == {KEPT: 1, "input:null_text": 1, "gopher_quality:word_count": 1}
    assert tally["kept"] == {
        "lines_removed": 1,
        "chars_removed": 6,
        "email": 1,
        "ip": 0,
        "phone": 0,
        "edited": 1,
        "redacted": 1,
    }
    param = TallyParam()
    total = param.addInPlace(param.addInPlace(param.zero({}), tally), tally)  # two tasks' tallies
    summary = summarize(total, RulesOptions(), ())
    assert summary["documents_in"] == 6 and summary["kept"] == 2 and summary["conserved"]
    assert summary["rejected_by_reason"] == {"input:null_text": 2, "gopher_quality:word_count": 2}
    assert summary["c4"] == {"documents_edited": 2, "lines_removed": 2, "chars_removed": 12}
    assert summary["pii"] == {"documents_redacted": 2, "email": 2, "ip": 0, "phone": 0}
    assert summarize({}, RulesOptions(), ())["documents_in"] == 0  # an empty input


# --- the job -------------------------------------------------------------------------------------------


def test_rules_job_writes_kept_rejects_and_a_conserved_summary(spark, tmp_path):
    rows = [
        ("kept", "http://ok.example/a", ARTICLE + "\nContact us at info@ok.example now please."),
        ("blocked", "http://ads.spam.example/", ARTICLE),
        ("null", None, None),
        ("empty", None, ""),
        ("short", None, "Too short to keep."),
        ("garbage", None, "\ufffd\x01" * 300),
    ]
    (tmp_path / "docs").mkdir()  # written with pyarrow, read back with pyarrow: the job is the one Spark job
    pq.write_table(
        pa.table({name: [row[i] for row in rows] for i, name in enumerate(("doc_id", "url", "text"))}),
        tmp_path / "docs" / "part-0.parquet",
    )
    (tmp_path / "spam").write_text("# ads\nspam.example\nbad entry\n")
    out = tmp_path / "out"
    status = RulesJob().main(
        ["--input", str(tmp_path / "docs"), "--output", str(out), "--blocklist", f"spam={tmp_path / 'spam'}"]
    )
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents_in"] == 6 and summary["kept"] == 1 and summary["conserved"]
    assert summary["rejected_by_reason"] == {
        "input:null_text": 1,
        "input:empty_text": 1,
        "input:garbage": 1,
        "blocklist:spam": 1,
        "gopher_quality:word_count": 1,
    }
    assert summary["pii"]["email"] == 1 and summary["blocklists"]["spam"]["invalid"] == 1
    kept = pq.read_table(out / "kept").to_pylist()
    assert kept[0]["doc_id"] == "kept" and "<EMAIL_ADDRESS>" in kept[0]["text"] and kept[0]["language"] == "en"
    rejects = {
        r["doc_id"]: (r["reason"], r["value"])
        for r in ds.dataset(out / "rejects", partitioning="hive").to_table().to_pylist()
    }
    assert rejects["short"] == ("gopher_quality:word_count", 4.0) and rejects["blocked"][0] == "blocklist:spam"


def test_rules_summary_when_nothing_is_kept(spark, tmp_path):
    frame = spark.createDataFrame([("a", None)], "doc_id string, text string").coalesce(1)  # one task
    summary = rules_documents(spark, frame, str(tmp_path / "out"), RulesOptions())
    assert summary["kept"] == 0 and summary["rejected_by_reason"] == {"input:null_text": 1} and summary["conserved"]
    assert pq.read_table(tmp_path / "out" / "kept").num_rows == 0


def test_config_mistakes_exit_2_before_spark(tmp_path, capsys):
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "x"}\n')
    base = ["--input", str(docs), "--output", str(tmp_path / "out")]
    for extra, message in (
        (["--languages", "en,klingon"], "unknown language code 'klingon'"),
        (["--skip", "gopher_quality:nope"], "unknown check"),
        (["--blocklist", f"adult={tmp_path / 'missing'}"], "no such file"),
        (["--blocklist", "no-path"], "CATEGORY=PATH"),
        (["--gopher-max-top-ngram-chars", "0.2,0.1"], "needs 3 numbers"),
    ):
        assert RulesJob().main(base + extra) == 2
        assert message in capsys.readouterr().err
