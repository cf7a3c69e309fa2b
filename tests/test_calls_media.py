"""The call engine with images and PDFs in the prompt, against the sandbox over HTTP.

Before anything is sent: an image to a text-only model is refused (no request, no ledger
row) naming models that take images, favourites first; a PDF to a model without file input
gets the free ``file-parser`` plugin in what is sent but not in the replay key; an explicit
engine is sent and priced; budgets count images and pages; the estimate stays above what the
sandbox bills. The status line's text, the records' counts, and text-only bodies unchanged.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from media_files import pdf_bytes

from edge_jupyter import calls, preferences, replay
from edge_jupyter.content import Attachment, Prompt
from edge_jupyter.ledger import Ledger, estimate_prompt_tokens
from edge_jupyter.ledger.budgets import IMAGE_TOKENS, PAGE_TOKENS, count_files
from edge_jupyter.routing import RoutePrefs

VISION = "openai/gpt-4o-mini"  # text, image, file; $0.007225 per image
TEXT_ONLY = "meta-llama/llama-3.1-8b-instruct"  # text only
NO_FILES = "anthropic/claude-3.5-haiku"  # text and image, no file input
GEMINI = "google/gemini-2.0-flash-001"  # text, image, file; providers google-ai-studio, google-vertex
MISTRAL = "mistralai/mistral-small-3.1-24b-instruct"  # text and image, no file input
GOOGLE = {"google-ai-studio", "google-vertex"}


def png(width: int = 64, height: int = 48, colour: str = "red") -> Attachment:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return Attachment(kind="image", data=out.getvalue(), mime="image/png", filename="plot.png",
                      width=width, height=height, source="plot.png")


def pdf(pages: int) -> Attachment:
    """A real PDF of ``pages`` pages, made with matplotlib."""
    return Attachment(kind="file", data=pdf_bytes(pages), mime="application/pdf", filename="paper.pdf",
                      pages=pages, source="paper.pdf")


def unreadable_pdf(size: int) -> Attachment:
    """PDF bytes whose page tree cannot be read (no /Count, no /Page objects)."""
    data = b"%PDF-1.4\n" + b"x" * (size - 9)
    return Attachment(kind="file", data=data, mime="application/pdf", filename="scan.pdf")


def ask(*pieces: Any) -> Prompt:
    return Prompt.of(pieces)


def run(listener: Any = None, **fields: Any) -> calls.Outcome:
    return calls.CallRun(calls.plan(calls.Request(**fields)), listener).execute()


def rows() -> int:
    return len(Ledger.default().frame("all"))


def chats(sb) -> int:
    return sum(1 for r in sb.requests if r.path.endswith("/chat/completions"))


def sent_body(sb) -> dict[str, Any]:
    """The body of the last chat request the sandbox received (other requests, e.g. a
    balance refresh, may come after it)."""
    return [r for r in sb.requests if r.path.endswith("/chat/completions")][-1].json


def reserved(**fields: Any) -> tuple[float, calls.Began, calls.Outcome]:
    """Run the call under a budget (ample unless given) and return the worst case the engine
    itself reserved for it — what the ledger holds for its row while it runs, read when
    :class:`Began` is reported — with that event and the outcome."""
    ledger = Ledger.default()
    before = ledger.spent("all")
    seen: list[tuple[float, calls.Began]] = []

    def listen(event: calls.Event) -> None:
        if isinstance(event, calls.Began):
            seen.append((ledger.spent("all") - before, event))

    fields.setdefault("budget", 100.0)
    outcome = run(listen, **fields)
    [(held, began)] = seen
    return held, began, outcome


# -- refused before anything is sent ------------------------------------------------------------

def test_an_image_to_a_text_only_model_is_refused_before_any_row_or_request(edge_env, sb) -> None:
    preferences.update(favourites=[TEXT_ONLY, NO_FILES, "google/gemini-2.0-flash-001"])
    before, sent = rows(), chats(sb)
    with pytest.raises(calls.CallRefused) as refused:
        run(prompt=ask("What is wrong with this plot? ", png()), models=[TEXT_ONLY])
    message = str(refused.value)
    assert message.startswith(f"{TEXT_ONLY} does not take images (its inputs: text)."), message
    assert "pick one with -m" in message and "\n" not in message
    named = re.search(r"Models that do: (.*?) —", message)
    assert named, message
    models = named.group(1).split(", ")
    # The favourites that take images first, in their order (the text-only favourite left out),
    # then a few others from /models.
    assert models[:2] == [NO_FILES, "google/gemini-2.0-flash-001"], models
    assert TEXT_ONLY not in models and 2 < len(models) <= 2 + 5
    assert chats(sb) == sent, "a request reached the sandbox"
    assert rows() == before, "a ledger row was written for a refused call"


def test_an_image_in_one_of_several_models_refuses_them_all_before_any_row(edge_env, sb) -> None:
    before, sent = rows(), chats(sb)
    with pytest.raises(calls.CallRefused, match="does not take images"):
        run(prompt=ask("Describe ", png()), models=[VISION, TEXT_ONLY])
    assert (rows(), chats(sb)) == (before, sent)


def test_when_models_cannot_be_had_nothing_is_refused_and_openrouters_404_explains(edge_env, sb) -> None:
    from edge_jupyter.openrouter import clear_models_cache

    clear_models_cache()
    calls.clear_price_cache()
    sb.catalogue_down = True
    try:
        outcome = run(prompt=ask("Describe ", png()), models=[TEXT_ONLY])
    finally:
        sb.catalogue_down = False
        clear_models_cache()
        calls.clear_price_cache()
    [record] = outcome.records
    assert record.status == "error" and "image input" in record.error, record.error
    assert sent_body(sb)["messages"][0]["content"][1]["type"] == "image_url"


def test_an_unknown_pdf_engine_is_a_clear_error(edge_env, sb) -> None:
    with pytest.raises(calls.NothingSent, match="not one of cloudflare-ai, mistral-ocr, native"):
        calls.plan(calls.Request(prompt="hi", models=[VISION], pdf_engine="ocr"))


# -- the PDF plugin -----------------------------------------------------------------------------

def test_a_pdf_to_a_model_without_file_input_is_sent_with_the_free_plugin_not_in_the_replay_key(
        edge_env, sb) -> None:
    request = calls.Request(prompt=ask("Summarise ", pdf(3)), models=[NO_FILES], replay=True,
                            max_tokens=20)
    plan = calls.plan(request)
    planned = plan.calls[0].body
    assert "plugins" not in planned
    [record] = calls.CallRun(plan).execute().records
    assert record.status == "ok", record.error
    received = sb.completions[-1]
    body = sent_body(sb)
    assert body["plugins"] == [{"id": "file-parser", "pdf": {"engine": "cloudflare-ai"}}]
    [part] = received.media
    assert (part.kind, part.pages, part.engine) == ("file", 3, "cloudflare-ai")
    # The replay store is keyed on the planned body: the same request replays...
    assert replay.lookup(planned) is not None
    assert replay.lookup(body) is None
    [again] = run(prompt=ask("Summarise ", pdf(3)), models=[NO_FILES], replay=True,
                  max_tokens=20).records
    assert again.status == "replayed"


def test_a_model_that_reads_files_gets_no_plugin(edge_env, sb) -> None:
    [record] = run(prompt=ask("Summarise ", pdf(2)), models=[VISION], max_tokens=20).records
    assert record.status == "ok", record.error
    assert "plugins" not in sent_body(sb)
    assert sb.completions[-1].media[0].engine == "native"


def test_an_explicit_pdf_engine_is_sent_and_its_pages_priced(edge_env, sb) -> None:
    prompt = ask("Read ", pdf(40))
    plan = calls.plan(calls.Request(prompt=prompt, models=[NO_FILES], pdf_engine="mistral-ocr",
                                    max_tokens=10))
    body = plan.calls[0].body  # in the planned body, so in the replay key
    assert body["plugins"] == [{"id": "file-parser", "pdf": {"engine": "mistral-ocr"}}]
    paid = reserved(prompt=prompt, models=[NO_FILES], pdf_engine="mistral-ocr", max_tokens=10)[0]
    free = reserved(prompt=prompt, models=[NO_FILES], pdf_engine="cloudflare-ai", max_tokens=10)[0]
    # 40 pages at $0.002: the engine reserves $0.08 more than for the free engine.
    assert paid - free == pytest.approx(0.08)
    # A budget that fits the free engine's worst case refuses the paid one, nothing sent.
    budget = free + 0.04
    sent = chats(sb)
    with pytest.raises(calls.CallRefused, match="Refused before sending"):
        run(prompt=prompt, models=[NO_FILES], pdf_engine="mistral-ocr", max_tokens=10, budget=budget)
    assert chats(sb) == sent
    [record] = run(prompt=prompt, models=[NO_FILES], pdf_engine="cloudflare-ai", max_tokens=10,
                   budget=budget).records
    assert record.status == "ok", record.error
    [ok] = run(prompt=prompt, models=[NO_FILES], pdf_engine="mistral-ocr", max_tokens=10).records
    assert sent_body(sb)["plugins"][0]["pdf"]["engine"] == "mistral-ocr"
    assert sb.completions[-1].media[0].engine == "mistral-ocr"
    assert ok.cost_usd is not None and ok.cost_usd >= 0.08


def test_native_reading_for_a_model_without_file_input_is_refused_before_anything_is_written(
        edge_env, sb) -> None:
    before, sent = rows(), chats(sb)
    with pytest.raises(calls.CallRefused) as refused:
        run(prompt=ask("Read ", pdf(2)), models=[NO_FILES], pdf_engine="native", max_tokens=5)
    assert str(refused.value).startswith(
        f"{NO_FILES} cannot read PDFs natively (its inputs: text, image): use --pdf-engine "
        "cloudflare-ai (free) or mistral-ocr ($0.002 a page)"), refused.value
    assert (rows(), chats(sb)) == (before, sent)
    [ok] = run(prompt=ask("Read ", pdf(2)), models=[VISION], pdf_engine="native", max_tokens=5).records
    assert ok.status == "ok", ok.error


# -- fallbacks: every model the request can reach -------------------------------------------------

def test_a_pdf_a_fallback_cannot_read_gets_the_free_plugin_and_the_reserve_covers_the_bill(
        edge_env, sb) -> None:
    # Gemini reads PDFs itself; its providers are down, so the Mistral fallback answers, and
    # Mistral has no file input: without a plugin OpenRouter would parse 50 pages with
    # mistral-ocr ($0.10) while the worst case counted native reading.
    sb.down_providers = GOOGLE
    held, began, outcome = reserved(prompt=ask("Summarise ", pdf(50)), models=[GEMINI],
                                    route=RoutePrefs(fallbacks=[MISTRAL]), max_tokens=50, budget=0.05)
    [record] = outcome.records
    assert record.status == "ok", record.error
    served = sb.completions[-1]
    assert served.model == MISTRAL
    assert sent_body(sb)["plugins"] == [{"id": "file-parser", "pdf": {"engine": "cloudflare-ai"}}]
    assert served.media[0].engine == "cloudflare-ai"
    assert record.cost_usd is not None and held >= served.cost == record.cost_usd
    assert "PDF read by file-parser (cloudflare-ai, free)" in began.sending[0], began.sending


def test_a_paid_engine_is_reserved_for_a_fallback_without_file_input(edge_env, sb) -> None:
    sb.down_providers = GOOGLE
    held, _, outcome = reserved(prompt=ask("Summarise ", pdf(20)), models=[GEMINI],
                                route=RoutePrefs(fallbacks=[MISTRAL]), pdf_engine="mistral-ocr",
                                max_tokens=10)
    [record] = outcome.records
    assert record.status == "ok" and sb.completions[-1].model == MISTRAL, record.error
    assert record.cost_usd is not None and record.cost_usd >= 0.04
    assert held >= record.cost_usd


def test_an_image_is_refused_only_when_no_model_of_the_request_takes_images(edge_env, sb) -> None:
    # A text-only model with a fallback that takes images: OpenRouter skips to the fallback.
    held, _, outcome = reserved(prompt=ask("Describe ", png()), models=[TEXT_ONLY],
                                route=RoutePrefs(fallbacks=[VISION]), max_tokens=5)
    [record] = outcome.records
    assert record.status == "ok", record.error
    assert sb.completions[-1].model == VISION
    assert record.cost_usd is not None and held >= record.cost_usd  # VISION's $0.007225 an image
    before, sent = rows(), chats(sb)
    with pytest.raises(calls.CallRefused,
                       match=f"^{TEXT_ONLY} and its fallbacks pricey/opus do not take images"):
        run(prompt=ask("Describe ", png()), models=[TEXT_ONLY], route=RoutePrefs(fallbacks=["pricey/opus"]))
    assert (rows(), chats(sb)) == (before, sent)


# -- budgets and estimates ----------------------------------------------------------------------

def test_a_budget_refuses_when_the_images_make_the_worst_case_exceed_it(edge_env, sb) -> None:
    images = [png(colour=c) for c in ("red", "green", "blue")]
    text_worst = reserved(prompt="Compare these.", models=[VISION], max_tokens=10)[0]
    budget = 0.02  # three images at $0.007225 each are $0.0217 before any token
    assert text_worst < budget
    before, sent = rows(), chats(sb)
    with pytest.raises(calls.CallRefused, match="Refused before sending"):
        run(prompt=ask("Compare these.", *images), models=[VISION], max_tokens=10, budget=budget)
    assert chats(sb) == sent
    assert set(Ledger.default().frame("all")["status"].iloc[before:]) <= {"error"}
    [record] = run(prompt="Compare these.", models=[VISION], max_tokens=10, budget=budget).records
    assert record.status == "ok"


def test_a_budget_refuses_when_the_pages_make_the_worst_case_exceed_it(edge_env, sb) -> None:
    # 30 pages at 3,000 tokens each, at gpt-4o's $2.50 per M: $0.225 of prompt.
    model = "openai/gpt-4o"
    sent = chats(sb)
    with pytest.raises(calls.CallRefused, match="Refused before sending"):
        run(prompt=ask("Read ", pdf(30)), models=[model], max_tokens=10, budget=0.2)
    assert chats(sb) == sent
    [record] = run(prompt=ask("Read ", pdf(3)), models=[model], max_tokens=10, budget=0.2).records
    assert record.status == "ok", record.error


def test_a_pdf_is_counted_by_its_pages_never_its_base64() -> None:
    att = pdf(5)
    messages = [{"role": "user", "content": ask("Read ", att).content()}]
    tokens = estimate_prompt_tokens(messages)
    assert 5 * PAGE_TOKENS <= tokens < 5 * PAGE_TOKENS + 100
    counted = count_files(messages)
    assert (counted.files, counted.pages, counted.estimated) == (1, 5, False)
    big = unreadable_pdf(45_000)  # no page tree: 5 pages, estimated from the size
    messages = [{"role": "user", "content": ask("Read ", big).content()}]
    counted = count_files(messages)
    assert (counted.pages, counted.estimated) == (5, True)
    assert estimate_prompt_tokens(messages) >= 5 * PAGE_TOKENS
    images = [{"role": "user", "content": ask("See ", png(), png(colour="blue")).content()}]
    assert 2 * IMAGE_TOKENS <= estimate_prompt_tokens(images) < 2 * IMAGE_TOKENS + 100


@pytest.mark.parametrize(("model", "prompt", "engine"), [
    (VISION, lambda: ask("Compare ", png(2048, 1536), png(800, 600)), None),  # per-image price
    (NO_FILES, lambda: ask("Compare ", png(2048, 1536), png(800, 600)), None),  # image tokens
    (VISION, lambda: ask("Read ", pdf(4)), None),  # native pages
    (NO_FILES, lambda: ask("Read ", pdf(4)), None),  # the free plugin
    (NO_FILES, lambda: ask("Read ", pdf(4)), "mistral-ocr"),  # paid pages
    (NO_FILES, lambda: ask("Read ", unreadable_pdf(25_000)), "mistral-ocr"),  # pages estimated
], ids=["image-price", "image-tokens", "native-pages", "free-plugin", "mistral-ocr", "estimated"])
def test_the_estimate_is_at_least_what_the_sandbox_bills(edge_env, sb, model, prompt, engine) -> None:
    sb.answer_length = 1
    held, began, outcome = reserved(prompt=prompt(), models=[model], max_tokens=1, pdf_engine=engine)
    [record] = outcome.records
    assert record.status == "ok", record.error
    assert record.cost_usd is not None and record.cost_usd > 0
    # What the engine reserved before sending covers what the sandbox billed.
    assert held >= sb.completions[-1].cost == record.cost_usd
    at_most = re.search(r"at most \$([0-9.]+)", began.sending[0])
    assert at_most, began.sending
    assert float(at_most.group(1)) >= record.cost_usd


# -- the status line, the records ---------------------------------------------------------------

def test_the_status_line_says_what_is_sent() -> None:
    shrunk = Attachment(kind="image", data=b"x", mime="image/png", filename="a.png", width=2048,
                        height=1536, downscaled_from=(4000, 3000))
    text = calls.sending_line(
        calls.Sending(images=2, files=1, pages=12), text_tokens=1850, at_most_usd=0.01231,
        downscaled=[shrunk, png()])
    # One of the two was made smaller: the line says which, not that both were.
    assert text == ("2 images (1 downscaled from 4000×3000 to 2048×1536) · 1 PDF (12 pages) · "
                    "~1,850 text tokens · at most $0.013")
    one = calls.sending_line(calls.Sending(images=1), text_tokens=5, downscaled=[shrunk])
    assert one == "1 image (downscaled from 4000×3000 to 2048×1536) · ~5 text tokens"
    both = calls.sending_line(calls.Sending(images=3), text_tokens=5, downscaled=[shrunk, shrunk, png()])
    assert both == "3 images (2 downscaled, e.g. from 4000×3000 to 2048×1536) · ~5 text tokens"
    text = calls.sending_line(
        calls.Sending(files=2, pages=7, pages_estimated=True, engine="mistral-ocr"), text_tokens=40)
    assert text == ("2 PDFs (~7 pages, pages estimated) · PDF read by file-parser (mistral-ocr, "
                    "$0.002/page) · ~40 text tokens")
    assert calls.sending_line(calls.Sending(), text_tokens=40) == ""
    free = calls.sending_line(calls.Sending(files=1, pages=1, engine="cloudflare-ai"),
                                    text_tokens=9, at_most_usd=1.2345)
    assert free == "1 PDF (1 page) · PDF read by file-parser (cloudflare-ai, free) · ~9 text tokens · at most $1.24"


def test_began_says_what_each_call_sends(edge_env, sb) -> None:
    seen: list[calls.Event] = []
    run(seen.append, prompt=ask("Look: ", png(), " and read ", pdf(2)),
        models=[VISION, NO_FILES], max_tokens=5)
    [began] = [e for e in seen if isinstance(e, calls.Began)]
    first, second = began.sending
    assert first.startswith("1 image · 1 PDF (2 pages) · ~") and " at most $" in first, first
    assert "file-parser" not in first
    assert "PDF read by file-parser (cloudflare-ai, free)" in second, second
    seen.clear()
    run(seen.append, prompt="plain text", models=[VISION], max_tokens=5)
    [began] = [e for e in seen if isinstance(e, calls.Began)]
    assert began.sending == ("",)


def test_records_count_the_images_files_and_pages_sent(edge_env, sb) -> None:
    images = (png(), png(colour="blue"))
    outcome = run(prompt=ask("Compare ", *images, " with ", pdf(3)), models=[VISION], max_tokens=5)
    [record] = outcome.records
    assert (record.images, record.files, record.pages) == (2, 1, 3)
    assert record.attachments == (*images, record.attachments[2]) and len(record.attachments) == 3
    row = Ledger.default().frame("all").iloc[-1]
    assert (row["images"], row["files"], row["pages"]) == (2, 1, 3)
    [text] = run(prompt="plain", models=[VISION], max_tokens=5).records
    assert (text.images, text.files, text.pages, text.attachments) == (0, 0, 0, ())


def test_a_guessed_page_count_is_for_the_estimate_not_the_record(edge_env, sb) -> None:
    seen: list[calls.Event] = []
    [record] = run(seen.append, prompt=ask("Read ", unreadable_pdf(45_000), pdf(2)), models=[VISION],
                   max_tokens=5).records
    assert record.status == "ok", record.error
    [began] = [e for e in seen if isinstance(e, calls.Began)]
    # The status line counts the unreadable file's 5 guessed pages (and says so)…
    assert began.sending[0].startswith("2 PDFs (~7 pages, pages estimated)"), began.sending
    # …the record and the ledger only the 2 that were read.
    assert (record.files, record.pages) == (2, 2)
    row = Ledger.default().frame("all").iloc[-1]
    assert (row["files"], row["pages"]) == (2, 2)


def test_text_only_bodies_are_unchanged(edge_env, sb) -> None:
    for prompt in ("Hello there", Prompt.of(["Hello there"])):
        body = calls.plan(calls.Request(prompt=prompt, models=[VISION], system="Be brief.")).calls[0].body
        assert body == {"model": VISION, "messages": [{"role": "system", "content": "Be brief."},
                                                      {"role": "user", "content": "Hello there"}]}
    [record] = run(prompt=Prompt.of(["Hello there"]), models=[VISION]).records
    assert sent_body(sb)["messages"] == [{"role": "user", "content": "Hello there"}]
    assert record.status == "ok"


def test_a_conversations_resent_attachments_are_counted_and_checked(edge_env, sb) -> None:
    from edge_jupyter.conversations import Conversation

    chat = Conversation(name="")
    first = run(prompt=ask("What is this? ", png(), pdf(2)), models=[VISION], max_tokens=5,
                conversation=chat).records[0]
    assert first.status == "ok" and (first.images, first.files, first.pages) == (1, 1, 2)
    # The next turn is text, but its body sends the history's image and PDF again.
    [again] = run(prompt="And its colour?", models=[VISION], max_tokens=5, conversation=chat).records
    assert again.status == "ok", again.error
    assert (again.images, again.files, again.pages, again.attachments) == (1, 1, 2, ())
    # …so a text-only model cannot take the conversation further, and the refusal says the
    # image comes from the chat's earlier turns (this turn attached nothing).
    sent = chats(sb)
    with pytest.raises(calls.CallRefused) as refused:
        run(prompt="Go on.", models=[TEXT_ONLY], conversation=chat)
    message = str(refused.value)
    assert message.startswith(f"this chat re-sends 1 image from its earlier turns, and {TEXT_ONLY} "
                              "takes no images (inputs: text)"), message
    assert "continue it with a model that takes images (" in message and "start a new" in message
    assert "does not take images" not in message and "\n" not in message
    assert chats(sb) == sent


def test_a_named_chats_resent_image_names_the_chat_in_the_refusal(edge_env, sb) -> None:
    [first] = run(prompt=ask("What is this? ", png()), models=[VISION], max_tokens=5, chat="c").records
    assert first.status == "ok", first.error
    before, sent = rows(), chats(sb)
    with pytest.raises(calls.CallRefused, match=r"^chat 'c' re-sends 1 image from its earlier turns.*"
                                                r"or start a new --chat"):
        run(prompt="And why?", models=[TEXT_ONLY], chat="c")
    assert (rows(), chats(sb)) == (before, sent)
    # This turn's own image to a text-only model: the usual refusal.
    with pytest.raises(calls.CallRefused, match=f"^{TEXT_ONLY} does not take images"):
        run(prompt=ask("And this? ", png()), models=[TEXT_ONLY], chat="c")
